"""The ``--mqtt`` options: checked before work starts, one-line errors, no password shown."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from smartmeter_proto.cli.failure import EXIT_USAGE, CliError, OneLineParser
from smartmeter_proto.cli.mqtt_options import add_mqtt_options, mqtt_publisher, mqtt_target

needs_mqtt_extra = pytest.mark.skipif(
    importlib.util.find_spec("aiomqtt") is None, reason="needs the 'mqtt' extra (aiomqtt)"
)
SECRET = "pa55-Word-xyz"


def _parse(*argv: str) -> argparse.Namespace:
    parser = OneLineParser(prog="smartmeter-proto record")
    add_mqtt_options(parser)
    return parser.parse_args(list(argv))


def test_no_mqtt_means_no_publisher() -> None:
    assert mqtt_target(_parse()) is None


@needs_mqtt_extra
def test_url_with_password(tmp_path: Path) -> None:
    target = mqtt_target(_parse("--mqtt", f"mqtt://hems:{SECRET}@127.0.0.1:1884"))
    assert target is not None
    assert (target.host, target.port, target.username, target.password) == (
        "127.0.0.1",
        1884,
        "hems",
        SECRET,
    )
    publisher = mqtt_publisher(target, tmp_path / "hems.sqlite", meter_id="FE01")
    assert SECRET not in repr(publisher.target)
    assert SECRET.encode() not in (tmp_path / "hems.sqlite").read_bytes()


@needs_mqtt_extra
def test_password_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "mqtt.pw"
    secret_file.write_text(f"{SECRET}\n")
    target = mqtt_target(
        _parse("--mqtt", "mqtts://hems@broker.example", "--mqtt-password-file", str(secret_file))
    )
    assert target is not None
    assert (target.password, target.tls, target.port) == (SECRET, True, 8883)


@needs_mqtt_extra
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--mqtt", f"mqtt://hems:{SECRET}@127.0.0.1", "--mqtt-password-file", "{pw}"),
            "given twice",
        ),
        (("--mqtt", "mqtt://127.0.0.1", "--mqtt-password-file", "{pw}"), "needs a user name"),
        (("--mqtt-password-file", "{pw}"), "needs --mqtt"),
        (("--mqtt", "mqtt://hems@127.0.0.1", "--mqtt-password-file", "{missing}"), "cannot read"),
    ],
)
def test_refused_combinations(tmp_path: Path, argv: tuple[str, ...], message: str) -> None:
    secret_file = tmp_path / "mqtt.pw"
    secret_file.write_text(SECRET)
    names = {"{pw}": str(secret_file), "{missing}": str(tmp_path / "nope")}
    args = _parse(*(names.get(a, a) for a in argv))
    with pytest.raises(CliError, match=message) as refused:
        mqtt_target(args)
    assert refused.value.code == EXIT_USAGE
    assert SECRET not in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        f"http://hems:{SECRET}@host",
        f"mqtt://hems:{SECRET}@host:70000",
        f"mqtt://hems:{SECRET}@host/topic",
    ],
)
def test_bad_url_is_one_line_exit_2_without_the_password(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _parse("--mqtt", url)
    assert stopped.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "--mqtt" in err
    assert SECRET not in err

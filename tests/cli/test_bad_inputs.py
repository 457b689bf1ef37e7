"""Every command, given bad input, fails in one ``error:`` line with its documented exit code.

Each row runs ``python -m smartmeter_proto ...`` in a real subprocess (a hang guard only
stops a command that never ends) and checks: exactly one stderr line, starting with
``error: ``; the exit code (2 bad input, 1 the operation failed); no traceback anywhere;
what the line must name, and what it must never echo (secrets). Ctrl-C tests send SIGINT
to running commands once they say they are up, and expect exit 130 without a traceback.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Only guards against a hang; no outcome depends on it.
HANG_GUARD_S = 120.0
RBID = "00112233445566778899AABBCCDDEEFF"
SECRET_PASSWORD = "Zq7Secret9Xw"
#: COSE_Encrypt0 (RFC 9052 §5.2) of an empty map, AES-CCM-16-64-128 with a zero key and
#: nonce, kid "gas-1/up", Partial IV 1: iot.cose.encrypt0 output.
COSE_FRAME = "d08343a1010aa204486761732d312f757006410149757b4efb89b94f16a7"
#: Runs the CLI with some modules unimportable, as on an install without an extra.
_BLOCK_AND_RUN = (
    "import sys; [sys.modules.__setitem__(m, None) for m in sys.argv[1].split(',')]; "
    "from smartmeter_proto.cli import main; sys.exit(main(sys.argv[2:]))"
)


@dataclass(frozen=True)
class Row:
    """One bad invocation and what its one-line failure must look like."""

    id: str
    argv: tuple[str, ...]
    code: int = 2
    says: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    blocked: tuple[str, ...] = ()  # modules made unimportable (a missing extra)
    absent: tuple[str, ...] = ()  # files (relative to the cwd) that must not be created


def _row(id: str, *argv: str, **kw: object) -> Row:
    return Row(id, argv, **kw)  # type: ignore[arg-type]


ROWS: list[Row] = [
    # simulate gasmeter / watermeter / special
    _row("gas-interval-0", "simulate", "gasmeter", "--interval", "0", says=("--interval",)),
    _row("gas-interval-neg", "simulate", "gasmeter", "--interval", "-1", says=("--interval",)),
    _row("water-interval-nan", "simulate", "watermeter", "--interval", "nan"),
    _row("gas-duration-0", "simulate", "gasmeter", "--duration", "0", says=("--duration",)),
    _row("special-bind-port", "simulate", "special", "--bind", "127.0.0.1:abc", says=("--bind",)),
    _row("gas-bind-300", "simulate", "gasmeter", "--bind", "300.1.1.1", says=("--bind",)),
    _row("gas-bind-unresolvable", "simulate", "gasmeter", "--bind", "no-such-host.invalid"),
    _row("gas-headend-bad", "simulate", "gasmeter", "--headend", "nohost:zz", says=("--headend",)),
    _row("gas-headend-port", "simulate", "gasmeter", "--headend", "127.0.0.1:70000"),
    _row("gas-meter-id-empty", "simulate", "gasmeter", "--meter-id", ""),
    # collect
    _row("collect-bind-port", "collect", "--meter", "m", "--bind", "127.0.0.1:70000"),
    _row("collect-bind-300", "collect", "--meter", "m", "--bind", "300.1.1.1", says=("--bind",)),
    _row("collect-bind-name", "collect", "--meter", "m", "--bind", "no-such-host.invalid"),
    _row("collect-duration-neg", "collect", "--meter", "m", "--duration", "-1"),
    _row("collect-no-meter", "collect"),
    # simulate dongle / g3modem
    _row("dongle-scale-0", "simulate", "dongle", "--time-scale", "0", says=("--time-scale",)),
    _row("dongle-scale-neg", "simulate", "dongle", "--time-scale", "-1"),
    _row("dongle-scale-nan", "simulate", "dongle", "--time-scale", "nan"),
    _row("g3-scale-0", "simulate", "g3modem", "--time-scale", "0", says=("--time-scale",)),
    _row("g3-scale-nan", "simulate", "g3modem", "--time-scale", "nan"),
    _row(
        "dongle-inject-neg",
        "simulate",
        "dongle",
        "--inject",
        "session_expiry@-5",
        says=("--inject",),
    ),
    _row("dongle-inject-nan", "simulate", "dongle", "--inject", "session_expiry@nan"),
    _row("dongle-inject-unknown", "simulate", "dongle", "--inject", "meteor_strike"),
    _row(
        "dongle-inject-param",
        "simulate",
        "dongle",
        "--inject",
        "silent_meter:colour=red",
        says=("--inject",),
    ),
    _row("g3-inject-neg", "simulate", "g3modem", "--inject", "join_failure@-1"),
    _row("dongle-model", "simulate", "dongle", "--model", "bp99", says=("--model",)),
    _row("dongle-rbid-short", "simulate", "dongle", "--rbid", "0123", says=("--rbid",)),
    _row(
        "dongle-password-long",
        "simulate",
        "dongle",
        "--password",
        SECRET_PASSWORD * 3,
        never=(SECRET_PASSWORD,),
    ),
    _row(
        "dongle-env-password",
        "simulate",
        "dongle",
        env={"SMARTMETER_PROTO_PASSWORD": "a b"},
        says=("SMARTMETER_PROTO_PASSWORD",),
    ),
    _row(
        "dongle-pcap-dir", "simulate", "dongle", "--pcap", "/nonexistent/x.pcap", says=("--pcap",)
    ),
    _row("g3-id-p-short", "simulate", "g3modem", "--id-p", "HEMS0011", says=("--id-p",)),
    _row(
        "g3-env-id-p-short",
        "simulate",
        "g3modem",
        env={"SMARTMETER_PROTO_G3_ID_P": "HEMS"},
        says=("SMARTMETER_PROTO_G3_ID_P",),
    ),
    _row(
        "g3-psk-bad",
        "simulate",
        "g3modem",
        "--psk",
        "ZZ" + SECRET_PASSWORD,
        says=("--psk",),
        never=(SECRET_PASSWORD,),
    ),
    # monitor
    _row(
        "monitor-rbid-short",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        "0123",
        "--password",
        "0123456789AB",
        says=("--rbid",),
    ),
    _row(
        "monitor-no-password",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        says=("password",),
    ),
    _row(
        "monitor-password-file-missing",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--password-file",
        "/nonexistent/pw",
        says=("--password-file",),
    ),
    _row(
        "monitor-env-password-bad",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        env={"SMARTMETER_PROTO_PASSWORD": SECRET_PASSWORD * 3},
        never=(SECRET_PASSWORD,),
    ),
    _row(
        "monitor-interval-0",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--password",
        "0123456789AB",
        "--interval",
        "0",
        says=("--interval",),
    ),
    _row(
        "monitor-interval-5",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--password",
        "0123456789AB",
        "--interval",
        "5",
        says=("at least 10",),
    ),
    _row(
        "monitor-count-0",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--password",
        "0123456789AB",
        "--count",
        "0",
        says=("--count",),
    ),
    _row(
        "monitor-model",
        "monitor",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--password",
        "0123456789AB",
        "--model",
        "bp99",
    ),
    _row(
        "monitor-no-device",
        "monitor",
        "--device",
        "/nonexistent/ttyUSB9",
        "--rbid",
        RBID,
        "--password",
        SECRET_PASSWORD,
        "--model",
        "bp35c0",
        code=1,
        never=(SECRET_PASSWORD,),
    ),
    # demo
    _row("demo-lan-g3", "demo", "--lan", "--g3"),
    _row("demo-lan-model", "demo", "--lan", "--model", "j11"),
    _row(
        "demo-pcap-lan",
        "demo",
        "--lan",
        "--pcap",
        "out.pcap",
        says=("--pcap",),
        absent=("out.pcap",),
    ),
    _row("demo-pcap-g3", "demo", "--g3", "--pcap", "out.pcap", absent=("out.pcap",)),
    _row("demo-pcap-dir", "demo", "--pcap", "/nonexistent/x.pcap", says=("--pcap",)),
    # fleet
    _row("fleet-speed-0", "fleet", "--speed", "0", says=("--speed",)),
    _row("fleet-meters-0", "fleet", "--meters", "0", says=("--meters",)),
    _row("fleet-hours-neg", "fleet", "--hours", "-2"),
    _row("fleet-start", "fleet", "--start", "yesterday", says=("--start",)),
    _row("fleet-chart-dir", "fleet", "--chart", "/nonexistent/x.png", says=("--chart",)),
    _row("fleet-db-dir", "fleet", "--db", "/nonexistent/x.sqlite", says=("--db",)),
    _row(
        "fleet-no-matplotlib",
        "fleet",
        "--meters",
        "2",
        "--hours",
        "1",
        code=1,
        blocked=("matplotlib",),
        says=("hes",),
        absent=("fleet.sqlite",),
    ),
    _row(
        "fleet-no-pyarrow",
        "fleet",
        "--meters",
        "2",
        "--hours",
        "1",
        "--chart",
        "",
        "--capture",
        "c.parquet",
        code=1,
        blocked=("pyarrow",),
        says=("hes",),
        absent=("fleet.sqlite",),
    ),
    # decode
    _row("decode-dlms-unknown-apdu", "decode", "dlms", "00"),
    _row("decode-lowpan-zeros", "decode", "lowpan", "00" * 14),
    _row("decode-odd-hex", "decode", "echonet", "108", says=("odd number of hex digits",)),
    _row("decode-iot-no-key", "decode", "iot", COSE_FRAME, says=("key",)),
    _row(
        "decode-iot-bad-key",
        "decode",
        "iot",
        COSE_FRAME,
        "--key",
        "zz",
        "--iv",
        "00" * 13,
        "--meter-id",
        "m",
        says=("--key",),
    ),
    _row(
        "decode-iot-bad-iv",
        "decode",
        "iot",
        COSE_FRAME,
        "--key",
        "00" * 16,
        "--iv",
        "0011",
        "--meter-id",
        "m",
        says=("--iv",),
    ),
    _row("decode-pana-zz", "decode", "pana", "zz"),
    _row(
        "decode-dlms-short-ek",
        "decode",
        "dlms",
        "C001C1000800000100",
        "--ek",
        "1234",
        says=("--ek",),
        never=("1234",),
    ),
    # probe
    _row("probe-timeout-0", "probe", "127.0.0.1", "--timeout", "0", says=("--timeout",)),
    _row("probe-timeout-neg", "probe", "127.0.0.1", "--timeout", "-1", says=("--timeout",)),
    _row("probe-port", "probe", "127.0.0.1:70000"),
    _row("probe-300", "probe", "300.1.1.1"),
    # simulate meter
    _row("meter-bind-port", "simulate", "meter", "--bind", "127.0.0.1:abc", says=("--bind",)),
    _row("meter-bind-300", "simulate", "meter", "--bind", "300.1.1.1"),
    _row("meter-bind-name", "simulate", "meter", "--bind", "no-such-host.invalid"),
    _row(
        "meter-iot-headend",
        "simulate",
        "meter",
        "--bind",
        "127.0.0.1:0",
        "--iot-headend",
        "nohost:zz",
        says=("--iot-headend",),
    ),
    # record
    _row(
        "record-no-meter",
        "record",
        "--db",
        "hems.sqlite",
        says=("--device",),
        absent=("hems.sqlite",),
    ),
    _row("record-no-db", "record", "--lan", "127.0.0.1", says=("--db",)),
    _row(
        "record-two-links",
        "record",
        "--lan",
        "127.0.0.1",
        "--device",
        "/dev/null",
        "--db",
        "hems.sqlite",
        says=("--device",),
    ),
    _row(
        "record-no-rbid",
        "record",
        "--device",
        "/dev/null",
        "--db",
        "hems.sqlite",
        says=("--rbid",),
        absent=("hems.sqlite",),
    ),
    _row(
        "record-rbid-short",
        "record",
        "--device",
        "/dev/null",
        "--rbid",
        "0123",
        "--db",
        "hems.sqlite",
        says=("--rbid",),
    ),
    _row(
        "record-no-password",
        "record",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--db",
        "hems.sqlite",
        says=("password",),
        absent=("hems.sqlite",),
    ),
    _row(
        "record-password-file-missing",
        "record",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--password-file",
        "nope.pw",
        "--db",
        "hems.sqlite",
        says=("--password-file",),
    ),
    _row(
        "record-env-password-bad",
        "record",
        "--device",
        "/dev/null",
        "--rbid",
        RBID,
        "--db",
        "hems.sqlite",
        env={"SMARTMETER_PROTO_PASSWORD": SECRET_PASSWORD * 3},
        never=(SECRET_PASSWORD,),
    ),
    _row(
        "record-no-device",
        "record",
        "--device",
        "/nonexistent/ttyUSB9",
        "--rbid",
        RBID,
        "--db",
        "hems.sqlite",
        env={"SMARTMETER_PROTO_PASSWORD": SECRET_PASSWORD},
        code=1,
        never=(SECRET_PASSWORD,),
    ),
    _row(
        "record-interval-5",
        "record",
        "--lan",
        "127.0.0.1",
        "--db",
        "hems.sqlite",
        "--interval",
        "5",
        says=("--interval",),
    ),
    _row(
        "record-lan-name",
        "record",
        "--lan",
        "no-such-host.invalid",
        "--db",
        "hems.sqlite",
        says=("--lan",),
    ),
    _row("record-g3-no-psk", "record", "--g3", "/dev/null", "--db", "hems.sqlite", says=("--psk",)),
    _row(
        "record-g3-psk-bad",
        "record",
        "--g3",
        "/dev/null",
        "--db",
        "hems.sqlite",
        "--psk",
        "ZZ" + SECRET_PASSWORD,
        says=("--psk",),
        never=(SECRET_PASSWORD,),
    ),
    _row(
        "record-report-missing",
        "record",
        "--report",
        "none.sqlite",
        says=("--report",),
        absent=("none.sqlite",),
    ),
    _row(
        "record-json-alone",
        "record",
        "--lan",
        "127.0.0.1",
        "--db",
        "hems.sqlite",
        "--json",
        says=("--json",),
    ),
    _row(
        "record-mqtt-bad",
        "record",
        "--lan",
        "127.0.0.1",
        "--db",
        "hems.sqlite",
        "--mqtt",
        f"mqtt://hems:{SECRET_PASSWORD}@host:70000",
        says=("--mqtt",),
        never=(SECRET_PASSWORD,),
    ),
    # conformance
    _row(
        "conformance-model",
        "conformance",
        f"serial:///dev/null?model=bp99&rbid={RBID}&password={SECRET_PASSWORD}",
        says=("model",),
        never=(SECRET_PASSWORD,),
    ),
    _row("conformance-scheme", "conformance", "tcp://127.0.0.1"),
]


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTMETER_PROTO_")}
    env.update({"PYTHONIOENCODING": "utf-8", **extra})
    return env


def _command(argv: Sequence[str], blocked: Sequence[str] = ()) -> list[str]:
    if blocked:
        return [sys.executable, "-c", _BLOCK_AND_RUN, ",".join(blocked), *argv]
    return [sys.executable, "-m", "smartmeter_proto", *argv]


def _assert_one_error_line(stderr: str, stdout: str) -> str:
    assert "Traceback" not in stderr + stdout
    assert "Task exception was never retrieved" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_fails_in_one_line(row: Row, tmp_path: Path) -> None:
    done = subprocess.run(
        _command(row.argv, row.blocked),
        cwd=tmp_path,
        env=_environment(row.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )
    line = _assert_one_error_line(done.stderr, done.stdout)
    assert done.returncode == row.code, f"exit {done.returncode}: {line}"
    for text in row.says:
        assert text.lower() in line.lower(), f"{text!r} not in {line!r}"
    for secret in row.never:
        assert secret not in done.stderr + done.stdout
    for name in row.absent:
        assert not (tmp_path / name).exists(), f"{name} was created"


# --------------------------------------------------------------------------- running commands
class Running:
    """A command running in the background; its stdout lines arrive on a queue."""

    def __init__(self, argv: Sequence[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            _command(argv),
            cwd=cwd,
            env=_environment({}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Our ^C: the default SIGINT disposition, whatever this process inherited (a
            # background job starts with SIGINT ignored, and so would its children).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first stdout line matching ``pattern`` (the hang guard fails the test)."""
        while True:
            line = self.lines.get(timeout=HANG_GUARD_S)
            assert line is not None, f"ended before {pattern!r}: {self.seen!r}"
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def interrupt(self) -> tuple[int, str, str]:
        """SIGINT, then the exit code, the rest of stdout and stderr."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=HANG_GUARD_S)
        assert self.process.stderr is not None
        err = self.process.stderr.read()  # stdout is the pump thread's alone
        rest = []
        while (line := self.lines.get(timeout=HANG_GUARD_S)) is not None:
            rest.append(line)
        return self.process.returncode, "".join(self.seen + rest), err


@contextmanager
def running(argv: Sequence[str], cwd: Path) -> Iterator[Running]:
    command = Running(argv, cwd)
    try:
        yield command
    finally:
        if command.process.poll() is None:
            command.process.kill()
            command.process.wait(timeout=HANG_GUARD_S)


def _free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def test_collect_on_a_busy_port_fails_in_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = subprocess.run(
            _command(["collect", "--meter", "m", "--bind", f"127.0.0.1:{port}"]),
            cwd=tmp_path,
            env=_environment({}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            check=False,
        )
    _assert_one_error_line(done.stderr, done.stdout)
    assert done.returncode == 1


def test_simulate_meter_on_a_busy_port_fails_in_one_line(tmp_path: Path) -> None:
    address = f"127.0.0.7:{_free_udp_port('127.0.0.7')}"
    with running(["simulate", "meter", "--bind", address], tmp_path) as first:
        first.wait_for("listening on")
        done = subprocess.run(  # --duration: should the bind succeed, end anyway
            _command(["simulate", "meter", "--bind", address, "--duration", "30"]),
            cwd=tmp_path,
            env=_environment({}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            check=False,
        )
        first.interrupt()
    _assert_one_error_line(done.stderr, done.stdout)
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("argv", "ready"),
    [
        (
            ["simulate", "gasmeter", "--interval", "0.5", "--headend", "127.0.0.1:9"],
            "a reading every 0.5 s",
        ),
        (["simulate", "meter", "--bind", "127.0.0.1:0"], "listening on"),
        (["collect", "--meter", "m", "--bind", "127.0.0.1:0"], "collecting on"),
        (["simulate", "dongle", "--time-scale", "10"], "^/dev/"),
    ],
    ids=["gasmeter", "meter", "collect", "dongle"],
)
def test_ctrl_c_ends_cleanly_with_130(argv: list[str], ready: str, tmp_path: Path) -> None:
    with running(argv, tmp_path) as command:
        command.wait_for(ready)
        code, out, err = command.interrupt()
    assert code == 130, (code, err)
    assert "Traceback" not in out + err
    assert "never retrieved" not in err
    assert "error:" not in err


def test_collect_says_why_it_dropped_readings(tmp_path: Path) -> None:
    port = _free_udp_port()
    with running(["collect", "--meter", "gas-1", "--bind", f"127.0.0.1:{port}"], tmp_path) as c:
        c.wait_for("collecting on")
        with running(
            [
                "simulate",
                "gasmeter",
                "--meter-id",
                "gas-9",
                "--interval",
                "0.2",
                "--headend",
                f"127.0.0.1:{port}",
            ],
            tmp_path,
        ):
            c.wait_for("dropped a datagram: unknown meter id")
        code, out, _ = c.interrupt()
    assert code == 130
    summary = out.splitlines()[-1]
    assert re.fullmatch(r"no readings collected; (\d+) dropped: \1 unknown meter id.*", summary)
    assert "100.0%" not in out


def test_demo_chart_falls_back_to_ascii_on_cp932(tmp_path: Path) -> None:
    env = _environment({"PYTHONIOENCODING": "cp932"})
    done = subprocess.run(
        _command(["demo", "--lan"]),
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=HANG_GUARD_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("cp932")
    assert "Traceback" not in out + done.stderr.decode("cp932", "replace")
    chart = out.splitlines()[
        out.splitlines().index("today's 30-minute energy (00:00 .. 23:30 JST):") + 1
    ]
    assert chart.strip()
    assert chart.isascii()

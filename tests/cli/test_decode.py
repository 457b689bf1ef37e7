"""``smartmeter-proto decode``: one grammar for every protocol.

Each decoder x (valid, malformed, trailing bytes, several stdin lines, typed --json); the
exit codes (0 decoded, 1 a key or tag that does not open well-formed input, 2 bad input);
and that a mistyped key is never echoed. Frames are the real bytes of the protocol tests
(tests/test_cli.py, tests/iot/test_frame.py) or built by the library's own encoders.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smartmeter_proto.aroute.apdu import DataNotification, LongInvokeIdAndPriority
from smartmeter_proto.aroute.axdr import Data, DataType
from smartmeter_proto.cli import main
from smartmeter_proto.iot import cose
from smartmeter_proto.iot.channel import ROUTE_TAGS
from smartmeter_proto.iot.frame import Route
from smartmeter_proto.wisun.radio.lowpan import udp_frames

CLI = Path(sys.executable).with_name("smartmeter-proto")

# ECHONET Lite Get_Res of the low-voltage smart meter: E7 552 W, E8 R 1.8 A / T -2.0 A.
ECHONET = "1081000102880105FF017202E70400000228E8040012FFEC"
ECHONET_E1 = "1081000102880105FF017201E10102"  # E1 = 0x02: 0.01 kWh per count
# [WSUHA] PANA-Auth-Request carrying EAP-PSK message 1 (tests/wisun/test_skstack.py).
PAR_PSK1 = (
    "00000068800000021"
    "36F0BFE2FDA83DD000500000010000044AA92C21CDBB377DEBBEBC9B755B87D0"
    "00200000038000001E300382F007835A9A40F167C39A7A5AB6ACB3F1070534D30303030303039393032313"
    "73030303030303030303030303031393442464144"
).replace(" ", "")
DLMS_GET = "C001C100080000010000FF0200"
# DLMS UA Green Book worked example: glo-get-request, suite 0 (tests/test_cli.py).
GB_EK = "000102030405060708090A0B0C0D0E0F"
GB_AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
GB_TITLE = "4D4D4D0000BC614E"
GB_GLO_GET = "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B"
# Golden IoT-route reading of tests/iot/test_frame.py (meter WM-0001, seq 42).
WATER_READING = (
    "a700010167574d2d303030310202030204182a05010782a50063766f6c02f957b8217075726e3a"
    "6465763a776d3a303030313a221a6553f10023626d33a30063766f6c02f957b406390707"
)
IOT_KEY = "00112233445566778899AABBCCDDEEFF"
IOT_IV = "A0A1A2A3A4A5A6A7A8A9AAABAC"


def lowpan_frame(payload: str = "1081000105FF010288016201E700", port: int = 3610) -> str:
    (frame,) = udp_frames(
        src_mac=bytes.fromhex("001D129012345678"),
        dst_mac=bytes.fromhex("001C640003DD6393"),
        pan_id=0x6393,
        src_port=port,
        dst_port=port,
        payload=bytes.fromhex(payload),
        seq=1,
        tag=1,
    )
    return frame.hex()


def sealed_reading(seq: int = 1) -> str:
    """The golden reading sealed as the meter's uplink (the channel's kid and AAD)."""
    return cose.protect_encrypt0(
        bytes.fromhex(WATER_READING),
        key=bytes.fromhex(IOT_KEY),
        kid=b"WM-0001/up",
        common_iv=bytes.fromhex(IOT_IV),
        seq=seq,
        external_aad=cose.build_external_aad("WM-0001", ROUTE_TAGS[Route.A_IOT], seq),
    ).hex()


def decode(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["decode", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_stdin(*argv: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """The installed command with ``-`` and real stdin (a pipe)."""
    return subprocess.run(
        [str(CLI), "decode", *argv, "-"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- valid frames, typed JSON -----------------------------------------------------------


def test_echonet_json_is_typed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = decode(capsys, "echonet", ECHONET, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["properties"][0] == {
        "epc": 0xE7,
        "pdc": 4,
        "edt": "00000228",
        "name": "instantaneous_power",
        "value": 552,
        "unit": "W",
    }
    assert doc["properties"][1]["value"] == {"r_phase": 1.8, "t_phase": -2.0}
    assert (doc["esv"], doc["esv_name"]) == (0x72, "GET_RES")
    code, out, _ = decode(capsys, "echonet", ECHONET_E1, "--json")
    (e1,) = json.loads(out)["properties"]
    assert (e1["value"], e1["unit"], e1["code"]) == (0.01, "kWh", 2)


def test_pana_json_is_typed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = decode(capsys, "pana", PAR_PSK1, "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["message"], doc["type"], doc["type_name"]) == ("PAR", 2, "AUTH")
    assert (doc["flags"], doc["flag_names"]) == (0x8000, ["REQUEST"])
    assert doc["session_id"] == 0x136F0BFE
    assert doc["avps"][1]["eap"]["eap_psk"] == "message 1"


def test_lowpan_reads_down_to_echonet(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = decode(capsys, "lowpan", lowpan_frame(), "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["mac"]["type_name"], doc["mac"]["pan_id"]) == ("DATA", 0x6393)
    assert doc["ipv6"]["dst"] == "fe80::21c:6400:3dd:6393"
    assert doc["udp"]["dst_port"] == 3610
    assert doc["echonet"]["esv_name"] == "GET"


def test_dlms_push_shows_obis_date_time_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    stamp = bytes.fromhex("07E8051401090000FFFDE400")  # 2024-05-20 09:00, UTC+09:00 (-540)
    body = Data(
        DataType.STRUCTURE,
        (
            Data(DataType.OCTET_STRING, bytes([0, 0, 25, 9, 0, 255])),
            Data(DataType.OCTET_STRING, b"SMR00001"),
            Data(DataType.OCTET_STRING, stamp),
            Data(DataType.DOUBLE_LONG_UNSIGNED, 1234),
        ),
    )
    push = DataNotification(body, stamp, LongInvokeIdAndPriority(7)).encode().hex()
    code, out, _ = decode(capsys, "dlms", push, "--json")
    assert code == 0
    apdu = json.loads(out)["apdu"]
    assert apdu["date_time_decoded"] == "2024-05-20T09:00:00+09:00"
    name, title, clock, value = apdu["body"]["value"]
    assert name == {"type": "octet_string", "value": "0000190900ff", "obis": "0-0:25.9.0.255"}
    assert title["text"] == "SMR00001"
    assert clock["date_time"] == "2024-05-20T09:00:00+09:00"
    assert value == {"type": "double_long_unsigned", "value": 1234}
    code, out, _ = decode(capsys, "dlms", push)
    assert code == 0
    assert "obis: 0-0:25.9.0.255" in out
    assert "date_time: 2024-05-20T09:00:00+09:00" in out


def test_iot_prints_json_and_text_not_a_repr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = decode(capsys, "iot", WATER_READING, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["type"] == "Reading"
    assert doc["header"]["meter_id"] == "WM-0001"
    assert doc["header"]["kind"] == {"value": 2, "name": "WATER"}
    assert doc["pack"]["records"][0]["value"] == 123.5
    code, out, _ = decode(capsys, "iot", WATER_READING)
    assert code == 0
    assert "meter_id: WM-0001" in out
    assert "{'" not in out


# --- malformed input, trailing bytes: exit 2 with layer and offset -------------------------


@pytest.mark.parametrize(
    ("protocol", "frame", "expected"),
    [
        ("echonet", ECHONET[:-2], "echonet-lite: OPC: EPC 0xE8 declares PDC 4"),
        ("echonet", ECHONET + "00", "trailing bytes after the last property (at byte offset 24)"),
        (
            "echonet",
            "1081000102880105FF017201E703000002",
            "echonet-property: EPC 0xE7 (instantaneous_power)",
        ),
        ("pana", PAR_PSK1[:-8], "pana: message length field says 104"),
        ("pana", PAR_PSK1 + "00", "pana: message length field says 104, datagram has 105"),
        ("lowpan", "00" * 14, "ieee802154: beacon without a source address (at byte offset 0)"),
        ("lowpan", lowpan_frame() + "00", "udp: bad UDP checksum"),
        ("lowpan", lowpan_frame(ECHONET + "00"), "echonet-lite: 1 trailing bytes"),
        ("dlms", "00", "xdlms: unknown APDU tag 0x00"),
        ("dlms", "C0", "xdlms: Get-Request choice"),
        ("dlms", DLMS_GET + "00", "xdlms:"),
        ("dlms", "05", "APDU tag 0x05 (readRequest) is not decoded here"),
        ("iot", WATER_READING[:-2], "iot:"),
        ("iot", WATER_READING + "00", "iot:"),
    ],
)
def test_bad_input_exits_2_naming_layer_and_offset(
    capsys: pytest.CaptureFixture[str], protocol: str, frame: str, expected: str
) -> None:
    code, out, err = decode(capsys, protocol, frame)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert expected in err
    assert "at byte offset" in err


def test_a_lowpan_error_deep_down_counts_from_the_frame(capsys: pytest.CaptureFixture[str]) -> None:
    frame = lowpan_frame(ECHONET + "00")
    code, _, err = decode(capsys, "lowpan", frame)
    assert code == 2
    assert f"(at byte offset {len(frame) // 2 - 1})" in err  # the byte after the frame


def test_dlms_wrapped_error_counts_from_the_datagram(capsys: pytest.CaptureFixture[str]) -> None:
    apdu = DLMS_GET + "00"
    wrapped = "0001" + "0010" + "0001" + f"{len(apdu) // 2:04X}" + apdu
    code, _, err = decode(capsys, "dlms", wrapped)
    assert code == 2
    assert f"(at byte offset {8 + len(DLMS_GET) // 2})" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [("123", "odd number of hex digits (3)"), ("12zz", "not hexadecimal (found 'z')")],
)
@pytest.mark.parametrize("protocol", ["echonet", "pana", "lowpan", "dlms", "iot"])
def test_bad_hex_is_named_for_every_protocol(
    capsys: pytest.CaptureFixture[str], protocol: str, text: str, expected: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["decode", protocol, text])
    assert info.value.code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["echonet", "dlms"])
def test_hex_may_have_0x_spaces_and_colons(
    capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    frame = ECHONET if protocol == "echonet" else DLMS_GET
    spaced = "0x" + ":".join(frame[i : i + 2] for i in range(0, len(frame), 2)).replace(":", " ", 3)
    assert decode(capsys, protocol, spaced)[0] == 0


# --- keys: exit 2 without them, 1 when they do not open, never echoed ---------------------


def test_dlms_ciphered_needs_keys_then_opens_then_refuses_a_bad_tag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = decode(capsys, "dlms", GB_GLO_GET)
    assert code == 2
    assert "give --ek and --ak" in err
    keys = ["--ek", GB_EK, "--ak", GB_AK, "--system-title", GB_TITLE]
    code, out, _ = decode(capsys, "dlms", GB_GLO_GET, "--json", *keys)
    assert code == 0
    doc = json.loads(out)
    assert doc["ciphered"]["invocation_counter"] == 0x01234567
    assert doc["apdu"]["attribute"]["class_id"] == 8
    code, _, err = decode(capsys, "dlms", GB_GLO_GET[:-1] + "A", *keys)
    assert code == 1
    assert "tag does not verify" in err
    assert GB_EK.lower() not in err.lower()
    assert GB_AK.lower() not in err.lower()


def test_iot_cose_needs_a_key_then_opens_then_refuses_a_wrong_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sealed = sealed_reading()
    code, _, err = decode(capsys, "iot", sealed)
    assert code == 2
    assert "COSE_Encrypt0 frame (kid 'WM-0001/up', Partial IV 1)" in err
    assert "a key is needed to open it: give --key and --iv" in err
    assert "tag 16" not in err
    code, out, _ = decode(capsys, "iot", sealed, "--key", IOT_KEY, "--iv", IOT_IV, "--json")
    assert code == 0
    assert json.loads(out)["header"]["seq"] == 42
    wrong = "F" + IOT_KEY[1:]
    code, _, err = decode(capsys, "iot", sealed, "--key", wrong, "--iv", IOT_IV)
    assert code == 1
    assert wrong.lower() not in err.lower()


@pytest.mark.parametrize(
    ("argv", "option", "size"),
    [
        (["dlms", DLMS_GET, "--ek", "S3CR3T" * 6, "--ak", GB_AK], "--ek", "16 bytes"),
        (["dlms", DLMS_GET, "--ek", GB_EK, "--ak", "ab" * 15], "--ak", "16 bytes"),
        (["dlms", DLMS_GET, "--system-title", "4D4D4D0000BC61"], "--system-title", "8 bytes"),
        (["iot", WATER_READING, "--key", "deadbeef" * 3, "--iv", IOT_IV], "--key", "16 bytes"),
        (["iot", WATER_READING, "--key", IOT_KEY, "--iv", "c0ffee" * 3], "--iv", "13 bytes"),
    ],
)
def test_a_bad_key_names_option_and_size_and_is_never_echoed(
    capsys: pytest.CaptureFixture[str], argv: list[str], option: str, size: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["decode", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert option in err
    assert size in err
    bad = argv[argv.index(option) + 1]
    assert bad not in err
    assert bad.lower() not in err.lower()
    assert err.count("\n") == 1


# --- stdin: one frame per line, each decoded, worst status, errors name the line ---------


def test_stdin_lines_decode_separately_as_json_lines() -> None:
    lines = f"# two readings\n{ECHONET}\n\n{ECHONET_E1}\n"
    done = run_stdin("echonet", "--json", stdin=lines)
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["line"] for d in docs] == [2, 4]
    assert docs[1]["properties"][0]["unit"] == "kWh"
    assert done.stderr == ""


def test_stdin_worst_status_wins_and_errors_name_the_line() -> None:
    keys = ["--ek", GB_EK, "--ak", GB_AK, "--system-title", GB_TITLE]
    lines = "\n".join([DLMS_GET, GB_GLO_GET[:-1] + "A", "00", "123", GB_GLO_GET]) + "\n"
    done = run_stdin("dlms", *keys, stdin=lines)
    assert done.returncode == 2
    errors = done.stderr.splitlines()
    assert errors[0].startswith("error: line 2: dlms security: tag does not verify")
    assert errors[1].startswith("error: line 3: xdlms: unknown APDU tag 0x00")
    assert errors[2].startswith("error: line 4: hex: odd number of hex digits")
    assert len(errors) == 3
    assert done.stdout.count("# line ") == 2  # lines 1 and 5, text separated
    assert "# line 1\n" in done.stdout
    assert "\n\n# line 5\n" in done.stdout
    only_tag = run_stdin("dlms", *keys, stdin=f"{DLMS_GET}\n{GB_GLO_GET[:-1]}A\n")
    assert only_tag.returncode == 1


@pytest.mark.parametrize(
    ("protocol", "good"),
    [("pana", PAR_PSK1), ("lowpan", lowpan_frame()), ("iot", WATER_READING)],
)
def test_stdin_every_protocol(protocol: str, good: str) -> None:
    done = run_stdin(protocol, "--json", stdin=f"{good}\n{good}00\n{good}\n")
    assert done.returncode == 2
    assert [json.loads(line)["line"] for line in done.stdout.splitlines()] == [1, 3]
    assert done.stderr.startswith("error: line 2: ")

"""The command line as a user runs it: the README's main job and the decoders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartmeter_proto.aroute import hdlc
from smartmeter_proto.cli import main
from smartmeter_proto.wisun.radio.lowpan import Reassembler, udp_frames
from smartmeter_proto.wisun.radio.pcap import read_pcap


def test_demo_joins_the_emulated_dongle_and_prints_the_readings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--model", "j11"]) == 0
    out = capsys.readouterr().out
    assert "joined meter fe80::" in out
    assert "instantaneous power" in out
    assert " W" in out
    assert "cumulative energy" in out
    assert "kWh" in out
    assert "today's 30-minute energy" in out


def test_demo_over_the_lan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--lan"]) == 0
    out = capsys.readouterr().out
    assert "discovered node with objects: 028801" in out
    assert "instantaneous current" in out


def test_decode_echonet_json(capsys: pytest.CaptureFixture[str]) -> None:
    frame = "1081000102880105FF017202E70400000228E8040012FFEC"
    assert main(["decode", "echonet", frame, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["tid"], doc["seoj"], doc["deoj"], doc["esv"]) == (1, "028801", "05FF01", 0x72)
    assert doc["properties"][0] == {
        "epc": 0xE7,
        "pdc": 4,
        "edt": "00000228",
        "name": "instantaneous_power",
        "value": 552,
        "unit": "W",
    }
    assert doc["properties"][1]["value"] == {"r_phase": 1.8, "t_phase": -2.0}


def test_decode_echonet_bad_input_exits_2_naming_the_offset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["decode", "echonet", "1081000102880105FF017201E70400"]) == 2
    assert "at byte offset" in capsys.readouterr().err


def test_demo_over_g3_plc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--g3"]) == 0
    out = capsys.readouterr().out
    assert "emulated G3-PLC modem on /dev/pts/" in out
    assert "joined meter fe80::781d:ff:fe00:0 on PAN 781D" in out
    assert "instantaneous power" in out


def test_demo_writes_a_pcap_of_the_join(tmp_path: Path) -> None:
    path = tmp_path / "demo.pcap"
    assert main(["demo", "--model", "bp35a1", "--pcap", str(path)]) == 0
    records = read_pcap(path.read_bytes())
    reassembler = Reassembler()
    ports = [d.dst_port for ts, f in records if (d := reassembler.feed(f, ts)) is not None]
    assert ports[:9] == [716] * 9  # PCI .. PAN(C): the whole PANA join
    assert 3610 in ports


# [WSUHA] the meter's PANA-Auth-Request carrying EAP-PSK message 1 (tests/wisun/test_skstack.py)
PAR_PSK1 = (
    "00000068800000021 36F0BFE2FDA83DD000500000010000044AA92C21CDBB377DEBBEBC9B755B87D0"
    "00200000038000001E300382F007835A9A40F167C39A7A5AB6ACB3F1070534D30303030303039393032313"
    "73030303030303030303030303031393442464144"
)


def test_decode_pana_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "pana", PAR_PSK1, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["message"], doc["flags"], doc["session_id"]) == ("PAR", 0x8000, 0x136F0BFE)
    assert [a["name"] for a in doc["avps"]] == ["NONCE", "EAP_PAYLOAD"]
    assert doc["avps"][1]["eap"] == {
        "code": 1,
        "code_name": "REQUEST",
        "identifier": 0xE3,
        "type": 47,
        "eap_psk": "message 1",
    }


def test_decode_lowpan_reads_down_to_echonet(capsys: pytest.CaptureFixture[str]) -> None:
    (frame,) = udp_frames(
        src_mac=bytes.fromhex("001D129012345678"),
        dst_mac=bytes.fromhex("001C640003DD6393"),
        pan_id=0x6393,
        src_port=3610,
        dst_port=3610,
        payload=bytes.fromhex("1081000105FF010288016201E700"),
        seq=1,
        tag=1,
    )
    assert main(["decode", "lowpan", frame.hex(), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mac"]["pan_id"] == 0x6393
    assert doc["ipv6"]["dst"] == "fe80::21c:6400:3dd:6393"
    assert doc["echonet"]["esv_name"] == "GET"
    assert main(["decode", "lowpan", "41"]) == 2  # malformed input


# DLMS UA Green Book worked example (as in u9n/dlms-cosem tests/test_security.py): keys,
# system title 4D4D4D0000BC614E, IC 01234567, glo-get-request with authenticated encryption.
GB_EK = "000102030405060708090A0B0C0D0E0F"
GB_AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
GB_GLO_GET = "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B"


def test_decode_dlms_bare_wrapped_and_hdlc(capsys: pytest.CaptureFixture[str]) -> None:
    get = "C001C1000800000100 00FF0200".replace(" ", "")
    wrapped = "0001" + "0010" + "0001" + f"{len(get) // 2:04X}" + get
    for text, framing in ((get, "none"), (wrapped, "wrapper")):
        assert main(["decode", "dlms", text, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["framing"] == framing
        assert doc["apdu"]["kind"] == "GetRequestNormal"
        assert doc["apdu"]["attribute"]["instance_id"] == "0-0:1.0.0.255"
    # The same request in an HDLC I-frame with its LLC header (IEC 62056-46).
    frame = hdlc.HdlcFrame(
        destination=hdlc.HdlcAddress(1, 0x11, 2),
        source=hdlc.HdlcAddress(0x10),
        control=hdlc.Control(hdlc.FrameType.I),
        information=hdlc.add_llc(bytes.fromhex(get), response=False),
    )
    assert main(["decode", "dlms", hdlc.encode(frame).hex(), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["framing"] == "hdlc"
    assert doc["apdu"]["kind"] == "GetRequestNormal"


def test_decode_dlms_deciphers_and_refuses_a_bad_tag(capsys: pytest.CaptureFixture[str]) -> None:
    keys = ["--ek", GB_EK, "--ak", GB_AK, "--system-title", "4D4D4D0000BC614E"]
    assert main(["decode", "dlms", GB_GLO_GET, "--json", *keys]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ciphered"]["invocation_counter"] == 0x01234567
    assert doc["apdu"]["attribute"]["class_id"] == 8
    flipped = GB_GLO_GET[:-1] + "A"
    assert main(["decode", "dlms", flipped, *keys]) == 1
    err = capsys.readouterr().err
    assert "tag does not verify" in err
    assert GB_EK.lower() not in err.lower()
    assert main(["decode", "dlms", "C0"]) == 2  # malformed input; 1 is for the bad tag

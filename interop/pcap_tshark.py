"""tshark (Wireshark, Debian package) dissects the pcap our dongle emulator writes.

Two B-route sessions are captured through the real user paths:

1. ``smartmeter-proto demo --pcap FILE`` (BP35C2 emulator on a pty, our client
   joins with PANA/EAP-PSK, reads the meter, ends the session);
2. the same client with a wrong password against a BP35A1 emulator (must fail
   with AuthError; the capture must show the EAP-PSK failure after message 2).

For each capture tshark must show every frame as ``wpan:6lowpan:ipv6:udp``,
report no malformed packet and no expert warning or error, and show for every
PANA message the same type, flags and AVP codes that our own decoders read
from the same frame.

    .venv/bin/python interop/pcap_tshark.py      # tshark must be on PATH

Exit status 0 when every check passes.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smartmeter_proto.auth.eap import EapCode, EapPacket
from smartmeter_proto.auth.eap_psk_messages import PskMessage1, decode_psk_message
from smartmeter_proto.cli.dongle import DEMO_PASSWORD, DEMO_RBID
from smartmeter_proto.errors import AuthError
from smartmeter_proto.sim.dongle import make_dongle
from smartmeter_proto.sim.radio import pcap_capture
from smartmeter_proto.transport.pty_server import run_dongle_on_pty
from smartmeter_proto.transport.serial import open_broute
from smartmeter_proto.wisun.radio.lowpan import Reassembler
from smartmeter_proto.wisun.radio.pana import message as pana
from smartmeter_proto.wisun.radio.pcap import read_pcap

PANA_PORT = 716
FIELDS = ("frame.number", "frame.protocols", "pana.type", "pana.avp.code")
#: Wireshark 4.0 declares pana.flags as 8 bits, so the 16-bit value is read from its tree text
#: (printed "0x00" when no flag is set).
FLAGS_LINE = re.compile(r"^\s+Flags: 0x([0-9a-f]{2,4})$")
FRAME_LINE = re.compile(r"^Frame (\d+):")


def run_demo(path: Path) -> None:
    cli = Path(sys.executable).with_name("smartmeter-proto")
    done = subprocess.run(
        [str(cli), "demo", "--pcap", str(path)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"demo failed ({done.returncode}): {done.stderr.strip()}")


async def wrong_password_session(path: Path) -> str:
    with path.open("wb") as file:
        emulator = make_dongle(
            "bp35a1",
            rbid=DEMO_RBID,
            password=DEMO_PASSWORD,
            now=time.time(),
            capture=pcap_capture(file),
        )
        async with run_dongle_on_pty(emulator, time_scale=4.0) as pty:
            try:
                async with open_broute(pty, DEMO_RBID, "WRONGPASSWRD", model="bp35a1"):
                    pass
            except AuthError as exc:
                return str(exc)
    raise SystemExit("a wrong password did not fail the join")


def ours(path: Path) -> dict[int, tuple[int, int, list[int], list[int]]]:
    """frame number -> (PANA type, flags, AVP codes, EAP codes) as our decoders read it."""
    out: dict[int, tuple[int, int, list[int], list[int]]] = {}
    reassembler = Reassembler()
    for number, (ts, frame) in enumerate(read_pcap(path.read_bytes()), start=1):
        datagram = reassembler.feed(frame, ts)
        if datagram is None or datagram.dst_port != PANA_PORT:
            continue
        msg = pana.decode(datagram.payload)
        eap = [EapPacket.decode(a.value).code for a in msg.avps if a.code == 2]
        out[number] = (int(msg.message_type), int(msg.flags), [a.code for a in msg.avps], eap)
    return out


def tshark_fields(path: Path) -> list[list[str]]:
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
    for field in FIELDS:
        cmd += ["-e", field]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)
    return [line.split("|") for line in done.stdout.splitlines() if line]


def tshark_flags(path: Path) -> dict[int, int]:
    """frame number -> PANA header flags, from tshark's PANA detail tree."""
    done = subprocess.run(
        ["tshark", "-r", str(path), "-O", "pana"], capture_output=True, text=True, check=True
    )
    flags: dict[int, int] = {}
    frame = 0
    for line in done.stdout.splitlines():
        if found := FRAME_LINE.match(line):
            frame = int(found.group(1))
        elif (found := FLAGS_LINE.match(line)) and frame not in flags:
            flags[frame] = int(found.group(1), 16)
    return flags


def expert_problems(path: Path) -> list[str]:
    done = subprocess.run(
        ["tshark", "-r", str(path), "-q", "-z", "expert,warn"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line for line in done.stdout.splitlines() if line.strip() and "=" not in line]


def ints(text: str, base: int = 10) -> list[int]:
    return [int(v, base) for v in text.split(",") if v]


def without_result_value(codes: list[int]) -> list[int]:
    """Wireshark 4.0 files a Result-Code AVP's value under ``pana.avp.code`` too; drop it."""
    out: list[int] = []
    skip = False
    for code in codes:
        if skip:
            skip = False
            continue
        out.append(code)
        skip = code == 7
    return out


def check_capture(name: str, path: Path) -> tuple[int, list[str]]:
    failures: list[str] = []
    rows = tshark_fields(path)
    decoded = ours(path)
    checks = 0
    flag_values = tshark_flags(path)
    for number, protocols, ptype, avps in rows:
        checks += 1
        if not protocols.startswith("eth") and not protocols.startswith("wpan:6lowpan:ipv6:udp"):
            failures.append(f"{name} frame {number}: dissected as {protocols}")
        if "malformed" in protocols:
            failures.append(f"{name} frame {number}: malformed ({protocols})")
        mine = decoded.get(int(number))
        if mine is None:
            if ptype:
                failures.append(f"{name} frame {number}: tshark sees PANA, we do not")
            continue
        checks += 1
        theirs = (int(ptype), flag_values.get(int(number), -1), without_result_value(ints(avps)))
        if theirs != mine[:3]:
            failures.append(f"{name} frame {number}: tshark {theirs} != ours {mine[:3]}")
    if len(decoded) < 4:
        failures.append(f"{name}: only {len(decoded)} PANA messages captured")
    problems = expert_problems(path)
    checks += 1
    if problems:
        failures += [f"{name} expert: {p}" for p in problems]
    return checks, failures


def check_failure_step(path: Path) -> list[str]:
    """The meter refuses after EAP-PSK message 2: no message 3, PAR(C) with EAP-Failure."""
    reassembler = Reassembler()
    psk_from_meter: list[int] = []
    last: tuple[int, list[int]] | None = None
    for ts, frame in read_pcap(path.read_bytes()):
        datagram = reassembler.feed(frame, ts)
        if datagram is None or datagram.dst_port != PANA_PORT:
            continue
        msg = pana.decode(datagram.payload)
        for avp in msg.avps:
            if avp.code == 2:
                packet = EapPacket.decode(avp.value)
                if packet.code == EapCode.REQUEST and packet.type == 47:
                    message = decode_psk_message(packet.data)
                    psk_from_meter.append(isinstance(message, PskMessage1))
                if msg.has(pana.Flag.REQUEST) and msg.has(pana.Flag.COMPLETE):
                    last = (packet.code, [a.code for a in msg.avps])
    failures = []
    if psk_from_meter != [True]:
        failures.append(f"meter EAP-PSK requests were {psk_from_meter} (want only message 1)")
    if last is None or last[0] != EapCode.FAILURE:
        failures.append(f"final PAR(C) carries {last}, want EAP-Failure")
    return failures


def main() -> int:
    if shutil.which("tshark") is None:
        print("tshark not found (Debian package 'tshark')", file=sys.stderr)
        return 2
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        demo, refused = Path(tmp) / "demo.pcap", Path(tmp) / "refused.pcap"
        run_demo(demo)
        reason = asyncio.run(wrong_password_session(refused))
        total, failures = 0, []
        for name, path in (("demo", demo), ("wrong password", refused)):
            checks, found = check_capture(name, path)
            total += checks
            failures += found
        failures += check_failure_step(refused)
        total += 2
    for failure in failures:
        print("FAIL", failure)
    print(
        f"{version.splitlines()[0]}: {total} checks, {len(failures)} failed; join refusal: {reason}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

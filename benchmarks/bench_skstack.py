"""SKSTACK Parser vs a bare split + fromhex baseline over the same ERXUDP stream.

Plain script: ``PYTHONPATH=src python benchmarks/bench_skstack.py``. Prints the
best-of-N time of each side and their ratio (target: parser <= 2x baseline).
The stream is ~2000 BP35A1-format ERXUDP lines in hex mode (WOPT 01) fed in
4 KiB chunks; the payloads are ECHONET Lite Get_Res frames of varying size.
"""

from __future__ import annotations

import sys
import time

from smartmeter_proto.wisun.skstack import ERxUdp, Parser, PayloadMode

LINES = 2000
CHUNK = 4096
ROUNDS = 15
SRC = "FE80:0000:0000:0000:021D:1290:1234:5679"
DST = "FE80:0000:0000:0000:021D:1290:1234:5678"


def make_stream() -> bytes:
    out = []
    for i in range(LINES):
        # 0x1081 TID SEOJ 028801 DEOJ 05FF01 ESV 72 OPC 1 EPC E7 PDC 4 EDT (watts)
        frame = (
            bytes.fromhex("1081")
            + i.to_bytes(2, "big")
            + bytes.fromhex("02880105FF017201E704")
            + (100 + i).to_bytes(4, "big")
        )
        frame += bytes(i % 24)  # vary the length a little
        out.append(
            f"ERXUDP {SRC} {DST} 0E1A 0E1A 001D129012345679 1 {len(frame):04X} "
            f"{frame.hex().upper()}\r\n".encode("ascii")
        )
    return b"".join(out)


def baseline(stream: bytes) -> int:
    n = 0
    for line in stream.split(b"\r\n"):
        parts = line.split(b" ")
        n += len(bytes.fromhex(parts[-1].decode()))
    return n


def parser_run(stream: bytes) -> int:
    parser = Parser("bp35a1", payload_mode=PayloadMode.HEX)
    n = 0
    for at in range(0, len(stream), CHUNK):
        for msg in parser.feed(stream[at : at + CHUNK]):
            assert isinstance(msg, ERxUdp)
            n += len(msg.payload)
    return n


def best(fn: object, stream: bytes) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn(stream)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    stream = make_stream()
    if baseline(stream) != parser_run(stream):
        print("mismatch: parser and baseline disagree on the payload bytes")
        return 1
    base = best(baseline, stream)
    ours = best(parser_run, stream)
    print(
        f"stream: {LINES} ERXUDP lines, {len(stream)} bytes, {CHUNK}-byte chunks, best of {ROUNDS}"
    )
    print(f"baseline split+fromhex: {base * 1e3:8.3f} ms  ({base / LINES * 1e6:.2f} us/line)")
    print(f"skstack.Parser:         {ours * 1e3:8.3f} ms  ({ours / LINES * 1e6:.2f} us/line)")
    print(f"ratio parser/baseline:  {ours / base:.2f}x (target <= 2.00x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

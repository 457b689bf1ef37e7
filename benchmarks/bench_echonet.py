"""ECHONET Lite decode/encode cost against pychonet, side by side in one run.

The frame is a 3-property Get_Res from a low-voltage smart meter
(E7 instantaneous power, E0 cumulative energy, D3 coefficient). Ours is the
full typed decode (``decode_typed``: frame checked, every EDT validated and
turned into its typed value by specs/echonet); pychonet's ``decodeEchonetMsg``
only splits the bytes. Also shown: the same decode materialised as
PropertyValue objects, and our untyped ``frame.decode``. Run:

    python benchmarks/bench_echonet.py            # prints a table and the ratios
    python benchmarks/bench_echonet.py --json F   # also writes the figures to F

Needs pychonet (``pip install -e '.[interop]'``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.typed import decode_typed

FRAME = bytes.fromhex(
    "1081"
    "0001"
    "028801"
    "05ff01"
    "72"
    "03"
    "e7"
    "04"
    "000001f4"  # 500 W
    "e0"
    "04"
    "00012345"  # cumulative count
    "d3"
    "04"
    "00000001"  # coefficient 1
)


DECODED_FRAME = el_frame.decode(FRAME)
assert isinstance(DECODED_FRAME, Frame)


def ours_decode() -> object:
    return decode_typed(FRAME)


def ours_decode_objects() -> object:
    return decode_typed(FRAME).frame()


#: pychonet's builder only writes requests from the controller (SEOJ 05FF01), so
#: encoding is compared on the Get request that asks for the same three EPCs.
REQUEST = bytes.fromhex("1081000105ff010288016203e700e000d300")
REQUEST_FRAME = el_frame.decode(REQUEST)
PYCHONET_REQUEST = {
    "TID": 1,
    "DEOJGC": 0x02,
    "DEOJCC": 0x88,
    "DEOJCI": 0x01,
    "ESV": 0x62,
    "OPC": [{"EPC": 0xE7}, {"EPC": 0xE0}, {"EPC": 0xD3}],
}
CONTROLLER, METER = EOJ(5, 0xFF, 1), EOJ(2, 0x88, 1)


def ours_encode() -> bytes:
    return el_frame.encode(REQUEST_FRAME)


def ours_build_and_encode() -> bytes:
    props = (Property(0xE7), Property(0xE0), Property(0xD3))
    return el_frame.encode(Frame(1, CONTROLLER, METER, ESV.GET, props))


def best_ns(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best of ``repeat`` runs, in nanoseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()
    try:
        from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg
    except ImportError:
        print("pychonet is not installed: pip install -e '.[interop]'", file=sys.stderr)
        return 2

    def theirs_decode() -> object:
        return decodeEchonetMsg(FRAME)

    def theirs_encode() -> object:
        return buildEchonetMsg(PYCHONET_REQUEST)

    assert bytes(buildEchonetMsg(PYCHONET_REQUEST)) == REQUEST == ours_encode()
    assert ours_build_and_encode() == REQUEST
    theirs = decodeEchonetMsg(FRAME)
    assert [(p["EPC"], bytes(p["EDT"])) for p in theirs["OPC"]] == [
        (p.epc, p.edt) for p in DECODED_FRAME.properties
    ]
    # Interleave ours and theirs so load on the machine hits both alike.
    rows = {}
    for name, fn in (
        ("decode ours (typed)", ours_decode),
        ("decode pychonet (untyped)", theirs_decode),
        ("decode ours, PropertyValue objects", ours_decode_objects),
        ("decode ours, untyped Frame", lambda: el_frame.decode(FRAME)),
        ("encode ours", ours_encode),
        ("build+encode ours", ours_build_and_encode),  # from typed objects
        ("encode pychonet", theirs_encode),
    ):
        rows[name] = best_ns(fn, args.number, args.repeat)
    decode_ratio = rows["decode ours (typed)"] / rows["decode pychonet (untyped)"]
    objects_ratio = rows["decode ours, PropertyValue objects"] / rows["decode pychonet (untyped)"]
    encode_ratio = rows["encode ours"] / rows["encode pychonet"]
    build_ratio = rows["build+encode ours"] / rows["encode pychonet"]
    print(f"python {platform.python_version()} on {platform.machine()}")
    for name, ns in rows.items():
        print(f"  {name:<28} {ns / 1000:8.2f} µs")
    print(f"decode ratio ours/pychonet       {decode_ratio:.2f} (target <= 1.00)")
    print(f"  ...with PropertyValue objects  {objects_ratio:.2f}")
    print(f"encode ratio ours/pychonet       {encode_ratio:.2f} (target <= 1.00)")
    print(f"build+encode ratio ours/pychonet {build_ratio:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "ns_per_call": rows,
                    "decode_ratio": decode_ratio,
                    "objects_ratio": objects_ratio,
                    "encode_ratio": encode_ratio,
                    "build_encode_ratio": build_ratio,
                },
                handle,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ECHONET Lite decode/encode cost against pychonet, side by side in one run.

Two parts, each run interleaved (round by round, the order of the contenders
alternating, so load on the machine hits both alike); a figure is the best
round, with the spread (worst round over best) beside it.

1. A realistic HEMS trace: what a controller polling a low-voltage smart meter
   and a few appliances receives. 75 % one-property Get_Res from the meter,
   0xE7 (instantaneous power) and 0xE0 (cumulative energy) alternating; 20 %
   four other shapes (a 0x0130 air conditioner 6-property Get_Res, a 0x027D
   storage battery Get_Res, the meter's 0xEA fixed-time INF, a 0x0279 PV
   Get_Res); 5 % frames of shapes never seen before (random EPC/PDC skeletons
   from the same objects, fresh every round). Ours is the full typed decode
   (``decode_typed``: frame checked, every EDT validated and typed by
   specs/echonet); pychonet's ``decodeEchonetMsg`` only splits the bytes. Both
   loops do the same around the call: each counts the properties of what it
   got (our typed values, pychonet's OPC list). Goal: ours <= 0.7x pychonet.
2. Single frames: a 3-property meter Get_Res (E7, E0, D3) decoded, and the Get
   request for it encoded.

Run:

    python benchmarks/bench_echonet.py            # prints a table and the ratios
    python benchmarks/bench_echonet.py --json F   # also writes the figures to F

Needs pychonet (``pip install -e '.[interop]'``).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.typed import decode_typed

TRACE_GOAL: Final = 0.7
CONTROLLER, METER = EOJ(0x05, 0xFF, 0x01), EOJ(0x02, 0x88, 0x01)
NODE_PROFILE = EOJ(0x0E, 0xF0, 0x01)
AIRCON, BATTERY, PV = EOJ(0x01, 0x30, 0x01), EOJ(0x02, 0x7D, 0x01), EOJ(0x02, 0x79, 0x01)

# ----------------------------------------------------------- single frames
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
_DECODED = el_frame.decode(FRAME)
assert isinstance(_DECODED, Frame)
DECODED_FRAME: Frame = _DECODED

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


def ours_encode() -> bytes:
    return el_frame.encode(REQUEST_FRAME)


def ours_build_and_encode() -> bytes:
    props = (Property(0xE7), Property(0xE0), Property(0xD3))
    return el_frame.encode(Frame(1, CONTROLLER, METER, ESV.GET, props))


# ------------------------------------------------------------ HEMS trace
def _frame(tid: int, seoj: EOJ, esv: ESV, props: list[tuple[int, bytes]]) -> bytes:
    deoj = NODE_PROFILE if esv is ESV.INF else CONTROLLER
    return el_frame.encode(Frame(tid, seoj, deoj, esv, tuple(Property(e, d) for e, d in props)))


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _s(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big", signed=True)


def _meter_e7(rng: random.Random, tid: int) -> bytes:
    # 0x0288 0xE7 measured instantaneous electric power, W, signed long (Appendix §3.3.25)
    return _frame(tid, METER, ESV.GET_RES, [(0xE7, _s(rng.randint(-3000, 6000), 4))])


def _meter_e0(rng: random.Random, tid: int) -> bytes:
    # 0x0288 0xE0 cumulative energy (normal direction), unsigned long, 0-99,999,999
    return _frame(tid, METER, ESV.GET_RES, [(0xE0, _u(rng.randrange(100_000_000), 4))])


def _aircon(rng: random.Random, tid: int) -> bytes:
    # 0x0130 home air conditioner (Appendix §3.3.1): 0x80 status, 0xB0 mode,
    # 0xB3 temperature setting (°C), 0xBB room / 0xBE outdoor temperature
    # (signed °C), 0x84 instantaneous power (W, unsigned short)
    return _frame(tid, AIRCON, ESV.GET_RES, [
        (0x80, b"\x30"), (0xB0, bytes((rng.choice((0x41, 0x42, 0x43)),))),
        (0xB3, _u(rng.randint(18, 28), 1)), (0xBB, _s(rng.randint(10, 32), 1)),
        (0xBE, _s(rng.randint(-5, 38), 1)), (0x84, _u(rng.randint(0, 2500), 2)),
    ])  # fmt: skip


def _battery(rng: random.Random, tid: int) -> bytes:
    # 0x027D storage battery (Appendix §3.3.27): 0xD3 charge/discharge power (W,
    # signed long), 0xE4 remaining capacity 3 (%), 0xDA operation mode
    return _frame(tid, BATTERY, ESV.GET_RES, [
        (0xD3, _s(rng.randint(-3000, 3000), 4)), (0xE4, _u(rng.randint(0, 100), 1)),
        (0xDA, bytes((rng.choice((0x42, 0x43, 0x44)),))),
    ])  # fmt: skip


def _meter_ea(rng: random.Random, tid: int) -> bytes:
    # 0x0288 0xEA fixed-time cumulative energy: YYYY MM DD hh mm ss + unsigned long,
    # announced (INF) every 30 minutes (Appendix §3.3.25)
    minute = rng.choice((0, 30))
    stamp = _u(2026, 2) + bytes((1, rng.randint(1, 28), rng.randrange(24), minute, 0))
    return _frame(tid, METER, ESV.INF, [(0xEA, stamp + _u(rng.randrange(100_000_000), 4))])


def _pv(rng: random.Random, tid: int) -> bytes:
    # 0x0279 household PV (Appendix §3.3.23): 0xE0 instantaneous generation (W,
    # unsigned short), 0xE1 cumulative generation (0.001 kWh, unsigned long)
    return _frame(tid, PV, ESV.GET_RES, [
        (0xE0, _u(rng.randint(0, 5500), 2)), (0xE1, _u(rng.randrange(1_000_000_000), 4)),
    ])  # fmt: skip


_SEEN: set[tuple[EOJ, tuple[tuple[int, int], ...]]] = set()


def _novel(rng: random.Random, tid: int) -> bytes:
    """A Get_Res of a shape not seen before in this process: random EPCs and PDCs."""
    while True:
        seoj = rng.choice((METER, AIRCON, BATTERY, PV))
        epcs = rng.sample(range(0x80, 0x100), rng.randint(1, 6))
        skeleton = tuple((epc, rng.choice((1, 1, 2, 4, 4, rng.randint(1, 16)))) for epc in epcs)
        if (seoj, skeleton) not in _SEEN:
            _SEEN.add((seoj, skeleton))
            break
    return _frame(tid, seoj, ESV.GET_RES, [(epc, rng.randbytes(pdc)) for epc, pdc in skeleton])


_OTHERS: Final = (_aircon, _battery, _meter_ea, _pv)


def hems_trace(length: int, seed: int) -> list[bytes]:
    """``length`` frames: 75 % meter E7/E0 alternating, 20 % four other shapes, 5 % novel."""
    rng = random.Random(seed)
    frames: list[bytes] = []
    meter_turn = 0
    for index in range(length):
        tid = index & 0xFFFF
        draw = rng.random()
        if draw < 0.05:
            frames.append(_novel(rng, tid))
        elif draw < 0.25:
            frames.append(rng.choice(_OTHERS)(rng, tid))
        else:
            frames.append((_meter_e7, _meter_e0)[meter_turn](rng, tid))
            meter_turn ^= 1
    return frames


def ours_trace(frames: list[bytes]) -> int:
    count = 0
    for data in frames:
        count += len(decode_typed(data).values)
    return count


# ---------------------------------------------------------------- timing
def _time_ns(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - start) / number


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "best": ordered[0],
        "median": ordered[len(ordered) // 2],
        "worst": ordered[-1],
        "spread": ordered[-1] / ordered[0] - 1,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per round, singles")
    parser.add_argument("--repeat", type=int, default=7, help="rounds")
    parser.add_argument("--trace-frames", type=int, default=20_000, help="frames per trace round")
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()
    try:
        from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg
    except ImportError:
        print("pychonet is not installed: pip install -e '.[interop]'", file=sys.stderr)
        return 2

    def theirs_trace(frames: list[bytes]) -> int:
        count = 0
        for data in frames:
            count += len(decodeEchonetMsg(data)["OPC"])
        return count

    assert bytes(buildEchonetMsg(PYCHONET_REQUEST)) == REQUEST == ours_encode()
    assert ours_build_and_encode() == REQUEST
    theirs = decodeEchonetMsg(FRAME)
    assert [(p["EPC"], bytes(p["EDT"])) for p in theirs["OPC"]] == [
        (p.epc, p.edt) for p in DECODED_FRAME.properties
    ]

    # Warm-up: the recurring shapes are compiled once, as in a running HEMS.
    warm = hems_trace(2_000, seed=0)
    ours_trace(warm)
    theirs_trace(warm)
    for data in warm:  # both read the same bytes
        mine = decode_typed(data)
        assert [(e, d) for e, d in zip(mine.epcs, mine.edts, strict=True)] == [
            (p["EPC"], bytes(p["EDT"])) for p in decodeEchonetMsg(data)["OPC"]
        ]

    singles: dict[str, Callable[[], object]] = {
        "decode ours (typed)": lambda: decode_typed(FRAME),
        "decode pychonet (untyped)": lambda: decodeEchonetMsg(FRAME),
        "decode ours, PropertyValue objects": lambda: decode_typed(FRAME).frame(),
        "decode ours, untyped Frame": lambda: el_frame.decode(FRAME),
        "encode ours": ours_encode,
        "build+encode ours": ours_build_and_encode,  # from typed objects
        "encode pychonet": lambda: buildEchonetMsg(PYCHONET_REQUEST),
    }
    trace_names = ("trace ours (decode_typed + values)", "trace pychonet (decodeEchonetMsg)")
    samples: dict[str, list[float]] = {name: [] for name in (*trace_names, *singles)}
    for round_index in range(args.repeat):
        frames = hems_trace(args.trace_frames, seed=1 + round_index)  # fresh novel shapes
        order: list[tuple[str, Callable[[], object]]] = [
            (trace_names[0], lambda frames=frames: ours_trace(frames)),  # type: ignore[misc]
            (trace_names[1], lambda frames=frames: theirs_trace(frames)),  # type: ignore[misc]
        ]
        if round_index % 2:
            order.reverse()
        for name, fn in order:
            samples[name].append(_time_ns(fn, 1) / len(frames))
        single_order = list(singles.items())
        if round_index % 2:
            single_order.reverse()
        for name, fn in single_order:
            samples[name].append(_time_ns(fn, args.number))

    rows = {name: _summary(values) for name, values in samples.items()}
    best = {name: row["best"] for name, row in rows.items()}
    ratios = {
        "trace_ratio": best[trace_names[0]] / best[trace_names[1]],
        "decode_ratio": best["decode ours (typed)"] / best["decode pychonet (untyped)"],
        "objects_ratio": best["decode ours, PropertyValue objects"]
        / best["decode pychonet (untyped)"],
        "encode_ratio": best["encode ours"] / best["encode pychonet"],
        "build_encode_ratio": best["build+encode ours"] / best["encode pychonet"],
    }
    # Ratio of each round (ours/theirs within one round): how steady the comparison is.
    per_round = [
        a / b for a, b in zip(samples[trace_names[0]], samples[trace_names[1]], strict=True)
    ]
    print(
        f"python {platform.python_version()} on {platform.machine()}, {args.repeat} rounds "
        f"interleaved; trace of {args.trace_frames} frames (5 % novel shapes) per round"
    )
    print(f"  {'':<36} {'best':>8} {'median':>8}  spread")
    for name, row in rows.items():
        print(
            f"  {name:<36} {row['best'] / 1000:6.2f} µs {row['median'] / 1000:6.2f} µs"
            f"  {row['spread'] * 100:5.1f} %"
        )
    verdict = "met" if ratios["trace_ratio"] <= TRACE_GOAL else "MISSED"
    print(
        f"HEMS trace ratio ours/pychonet   {ratios['trace_ratio']:.2f} (goal <= {TRACE_GOAL}: "
        f"{verdict}); per round {min(per_round):.2f}-{max(per_round):.2f}"
    )
    print(f"decode ratio ours/pychonet       {ratios['decode_ratio']:.2f} (target <= 1.00)")
    print(f"  ...with PropertyValue objects  {ratios['objects_ratio']:.2f}")
    print(f"encode ratio ours/pychonet       {ratios['encode_ratio']:.2f} (target <= 1.00)")
    print(f"build+encode ratio ours/pychonet {ratios['build_encode_ratio']:.2f}")
    if args.json:
        result: dict[str, Any] = {
            "ns_per_call": best,
            "rounds": rows,
            "trace_ratio_per_round": per_round,
            **ratios,
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

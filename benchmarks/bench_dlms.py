"""A-route (DLMS/COSEM) decode cost against dlms-cosem and gurux-dlms, side by side in one run.

(i) A 48-entry 30-minute load profile buffer as a Get-Response-Normal: an array of 48
structures {date-time octet-string(12), double-long-unsigned import Wh,
double-long-unsigned export Wh, long-unsigned voltage (0.1 V), unsigned status}.
Every contender goes from the same APDU bytes to the values:

* ours ``aroute.apdu.decode_apdu`` (typed ``Data`` tree), and ours on the values path
  (``axdr.decode_values`` on the Data after the 4-byte Get-Response-Normal header);
* dlms-cosem: ``XDlmsApduFactory.apdu_from_bytes`` then ``DlmsDataParser.parse`` and
  ``to_python`` on the result (its own documented way to get values out of a response);
* gurux-dlms: ``GXDLMSClient.getData`` on a ``GXReplyData`` (PDU interface, no framing),
  and ``_GXCommon.getData`` on the Data bytes alone.

(ii) A ciphered (general-glo-ciphering, SC 0x30) 30-minute Data-Notification, from the
ciphered bytes to the values with every security check: ours through the compiled
notification layout as the collector reads a push (``security.Suite0Opener.open_usual`` +
``NotificationLayouts.match``), the same through the general split (``split_ciphered`` +
``unprotect_fields``), and ours through the general decoder (``security.unprotect``
+ ``decode_apdu``, a Data tree), against the floor: one call of a prebuilt
``cryptography`` ``AESGCM.decrypt`` of the same-size payload with a 16-byte tag (suite 0's
12-byte tag needs two ``AESGCM`` calls, see ``aroute.security``).

Contenders of a table are timed round by round, one after another in each round, so load
on a shared machine falls on all of them alike; the tables give the best of the rounds and
the spread (worst / best - 1), the ratios are of the bests.

Run::

    python benchmarks/bench_dlms.py                 # markdown table and ratios
    python benchmarks/bench_dlms.py --number 500 --repeat 7 --json out.json

Needs dlms-cosem and gurux-dlms (``pip install -e '.[interop]'``).
Targets: ours decode_apdu >= 10x faster than dlms-cosem (values path >= 5x) and faster
than gurux for (i);
decipher + decode (compiled layout) <= 5x the one-call AESGCM floor for (ii).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import timeit
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smartmeter_proto.aroute import axdr, security
from smartmeter_proto.aroute.apdu import (
    DataNotification,
    GetResponseNormal,
    LongInvokeIdAndPriority,
    decode_apdu,
)
from smartmeter_proto.aroute.axdr import CosemDateTime, Data, DataType
from smartmeter_proto.aroute.notification_layout import NotificationLayouts, flatten

# -- (i) the load profile -------------------------------------------------------------------

ROWS = 48  # 24 h of 30-minute periods
START = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))  # JST


def _row(i: int) -> Data:
    when = CosemDateTime.from_datetime(START + dt.timedelta(minutes=30 * i), clock_status=0)
    return Data(
        DataType.STRUCTURE,
        (
            Data(DataType.OCTET_STRING, when.encode()),
            Data(DataType.DOUBLE_LONG_UNSIGNED, 1_234_000 + 150 * i),  # import Wh
            Data(DataType.DOUBLE_LONG_UNSIGNED, 56_000 + 7 * i),  # export Wh
            Data(DataType.LONG_UNSIGNED, 1010 + i % 7),  # 101.0 V (0.1 V)
            Data(DataType.UNSIGNED, 0 if i % 12 else 0x08),  # status
        ),
    )


PROFILE = Data(DataType.ARRAY, tuple(_row(i) for i in range(ROWS)))
PROFILE_APDU = GetResponseNormal(PROFILE).encode()
_GET_NORMAL_HEADER = 4  # C4 01 <invoke> 00


def ours_decode_apdu() -> object:
    return decode_apdu(PROFILE_APDU)


def ours_decode_values() -> object:
    # The values path: check the Get-Response-Normal header, then A-XDR straight to natives.
    if PROFILE_APDU[0] != 0xC4 or PROFILE_APDU[1] != 1 or PROFILE_APDU[3] != 0:
        raise AssertionError("not a Get-Response-Normal with Data")
    return axdr.decode_values(PROFILE_APDU[_GET_NORMAL_HEADER:])


# -- (ii) the ciphered 30-minute push -------------------------------------------------------

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")  # bench fixtures, not real keys
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SYSTEM_TITLE = bytes.fromhex("4D4D4D0000BC614E")
IC = 0x01234567
SC = 0x30  # suite 0, authenticated and encrypted


def push_body(i: int = 47) -> Data:
    """The 30-minute push: push setup LN, period end, both registers, voltage, status."""
    row = _row(i).value
    assert isinstance(row, tuple)
    return Data(
        DataType.STRUCTURE,
        (
            Data(DataType.OCTET_STRING, bytes((0, 0, 25, 9, 0, 255))),  # push setup 0-0:25.9.0*255
            Data(DataType.VISIBLE_STRING, "A-ROUTE-000123"),
            *row,
        ),
    )


PUSH_APDU = DataNotification(
    push_body(),
    CosemDateTime.from_datetime(START + dt.timedelta(hours=24), clock_status=0).encode(),
    LongInvokeIdAndPriority(long_invoke_id=48),
).encode()
CIPHERED = security.protect(
    PUSH_APDU,
    security_control=SC,
    system_title=SYSTEM_TITLE,
    invocation_counter=IC,
    ek=EK,
    ak=AK,
)
_IV = SYSTEM_TITLE + IC.to_bytes(4, "big")
_AAD = bytes((SC,)) + AK
_AESGCM = AESGCM(EK)
_CT16 = _AESGCM.encrypt(_IV, PUSH_APDU, _AAD)  # the same payload with a 16-byte tag


def _notification() -> DataNotification:
    decoded = decode_apdu(PUSH_APDU, strict=True)
    assert isinstance(decoded, DataNotification)
    return decoded


_LAYOUTS = NotificationLayouts()
_NOTIFICATION = _notification()
assert _LAYOUTS.learn(PUSH_APDU, _NOTIFICATION) is not None


_OPENER = security.Suite0Opener(EK, AK)


def ours_decipher_decode() -> object:
    """Ciphered bytes to values as the head end's collector reads a push: the usual header
    checked and the tag verified in one step (``Suite0Opener``), then the compiled layout."""
    opened = _OPENER.open_usual(CIPHERED)
    assert opened is not None
    hit = _LAYOUTS.match(opened[2])
    assert hit is not None
    return hit[1]


def ours_fields_decode() -> object:
    """Ciphered bytes to values through the general split: ``split_ciphered``,
    ``unprotect_fields``, then the compiled layout."""
    fields = security.split_ciphered(CIPHERED)
    plain = security.unprotect_fields(fields, ek=EK, ak=AK)
    hit = _LAYOUTS.match(plain)
    assert hit is not None
    return hit[1]


def ours_unprotect_decode() -> object:
    return decode_apdu(security.unprotect(CIPHERED, ek=EK, ak=AK).apdu)


def aesgcm_floor() -> bytes:
    return _AESGCM.decrypt(_IV, _CT16, _AAD)


# -- peers ----------------------------------------------------------------------------------


def peer_decoders() -> dict[str, Callable[[], object]]:
    from dlms_cosem.connection import XDlmsApduFactory  # type: ignore[import-untyped]
    from dlms_cosem.dlms_data import DlmsDataParser  # type: ignore[import-untyped]
    from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData  # type: ignore[import-untyped]
    from gurux_dlms.enums import InterfaceType  # type: ignore[import-untyped]
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings  # type: ignore[import-untyped]
    from gurux_dlms.internal._GXCommon import _GXCommon  # type: ignore[import-untyped]
    from gurux_dlms.internal._GXDataInfo import _GXDataInfo  # type: ignore[import-untyped]

    client = GXDLMSClient(True, interfaceType=InterfaceType.PDU)
    settings = GXDLMSSettings(False, None)
    data_only = PROFILE_APDU[_GET_NORMAL_HEADER:]

    def dlms_cosem_decode() -> object:
        response: Any = XDlmsApduFactory.apdu_from_bytes(PROFILE_APDU)
        return DlmsDataParser().parse(response.data)[0].to_python()

    def gurux_client_get_data() -> object:
        reply = GXReplyData()
        client.getData(GXByteBuffer(PROFILE_APDU), reply)
        return reply.value

    def gurux_common_get_data() -> object:
        return _GXCommon.getData(settings, GXByteBuffer(data_only), _GXDataInfo())

    return {
        "dlms-cosem (apdu_from_bytes + DlmsDataParser + to_python)": dlms_cosem_decode,
        "gurux GXDLMSClient.getData": gurux_client_get_data,
        "gurux _GXCommon.getData (Data bytes only)": gurux_common_get_data,
    }


def _check_same_values(peers: dict[str, Callable[[], object]]) -> None:
    """Every contender must see the same 48 rows before any of them is timed."""
    rows: Any = axdr.to_python(PROFILE)
    expected = [[bytes(r[0]), *r[1:]] for r in rows]
    ours = ours_decode_values()
    assert ours == expected, "values path differs from to_python"
    apdu = decode_apdu(PROFILE_APDU)
    assert isinstance(apdu, GetResponseNormal)
    assert apdu.result == PROFILE
    for name, fn in peers.items():
        got = [
            [bytes(v) if isinstance(v, bytes | bytearray) else int(v) for v in row] for row in fn()
        ]  # type: ignore[attr-defined]
        assert got == expected, f"{name} decodes other values"
    assert aesgcm_floor() == PUSH_APDU
    assert decode_apdu(PUSH_APDU) == ours_unprotect_decode()
    leaves = flatten(_NOTIFICATION.body)
    assert ours_decipher_decode() == (
        _NOTIFICATION.long_invoke.to_int(),
        _NOTIFICATION.date_time or b"",
        *(d.value for d in leaves),
    )


def rounds(
    contenders: dict[str, Callable[[], object]], number: int, repeat: int
) -> dict[str, list[float]]:
    """µs per call of each contender in each of ``repeat`` rounds, contenders taking turns
    within a round (load on the machine falls on all of them alike)."""
    out: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            out[name].append(timeit.timeit(fn, number=number) / number * 1e6)
    return out


def spread(times: list[float]) -> float:
    """Worst over best, minus one (0.10: the worst round took 10% longer)."""
    return max(times) / min(times) - 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--number", type=int, default=300, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs (min is kept)")
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()
    try:
        peers = peer_decoders()
    except ImportError as exc:
        print(f"{exc.name} is not installed: pip install -e '.[interop]'", file=sys.stderr)
        return 2
    _check_same_values(peers)
    decode_rounds = rounds(
        {
            "ours decode_apdu (Data tree)": ours_decode_apdu,
            "ours values path (decode_values)": ours_decode_values,
            **peers,
        },
        args.number,
        args.repeat,
    )
    rows = {name: min(times) for name, times in decode_rounds.items()}
    floor_name = "AESGCM.decrypt, one call, 16-byte tag (floor)"
    crypto_rounds = rounds(
        {
            "ours decipher + decode (Suite0Opener, compiled layout)": ours_decipher_decode,
            "ours split + unprotect_fields + compiled layout": ours_fields_decode,
            "ours unprotect + decode_apdu (Data tree)": ours_unprotect_decode,
            floor_name: aesgcm_floor,
        },
        args.number * 20,
        args.repeat,
    )
    crypto_rows = {name: min(times) for name, times in crypto_rounds.items()}

    ours_tree = rows["ours decode_apdu (Data tree)"]
    ours_values = rows["ours values path (decode_values)"]
    cosem = rows["dlms-cosem (apdu_from_bytes + DlmsDataParser + to_python)"]
    gurux = rows["gurux GXDLMSClient.getData"]
    gurux_common = rows["gurux _GXCommon.getData (Data bytes only)"]
    ratios = {
        "dlms-cosem / ours decode_apdu": cosem / ours_tree,
        "dlms-cosem / ours values path": cosem / ours_values,
        "gurux getData / ours decode_apdu": gurux / ours_tree,
        "gurux getData / ours values path": gurux / ours_values,
        "gurux _GXCommon.getData / ours decode_apdu": gurux_common / ours_tree,
        "decipher+decode (compiled) / AESGCM floor": (
            crypto_rows["ours decipher + decode (Suite0Opener, compiled layout)"]
            / crypto_rows[floor_name]
        ),
        "split+unprotect_fields+layout / AESGCM floor": (
            crypto_rows["ours split + unprotect_fields + compiled layout"] / crypto_rows[floor_name]
        ),
        "unprotect+decode_apdu / AESGCM floor": (
            crypto_rows["ours unprotect + decode_apdu (Data tree)"] / crypto_rows[floor_name]
        ),
    }
    print(
        f"python {platform.python_version()} on {platform.machine()}; "
        f"--number {args.number} --repeat {args.repeat} (rounds, contenders alternating; "
        f"best of rounds, spread = worst / best - 1)\n"
    )
    print(f"(i) 48-entry load profile, Get-Response-Normal of {len(PROFILE_APDU)} bytes\n")
    print("| decoder | µs per decode (best) | spread | x ours decode_apdu |")
    print("|---|---:|---:|---:|")
    for name, us in rows.items():
        print(f"| {name} | {us:,.1f} | {spread(decode_rounds[name]):.0%} | {us / ours_tree:.2f} |")
    print(
        f"\n(ii) ciphered 30-minute Data-Notification, {len(CIPHERED)} bytes "
        f"({len(PUSH_APDU)}-byte APDU)\n"
    )
    print("| step | µs per call (best) | spread | x AESGCM floor |")
    print("|---|---:|---:|---:|")
    base = crypto_rows[floor_name]
    for name, us in crypto_rows.items():
        print(f"| {name} | {us:,.2f} | {spread(crypto_rounds[name]):.0%} | {us / base:.2f} |")
    print("\n| ratio | value | target |")
    print("|---|---:|---|")
    targets = {
        "dlms-cosem / ours decode_apdu": ">= 10",
        "dlms-cosem / ours values path": ">= 5",
        "gurux getData / ours decode_apdu": "> 1",
        "gurux getData / ours values path": "> 1",
        "gurux _GXCommon.getData / ours decode_apdu": "> 1",
        "decipher+decode (compiled) / AESGCM floor": "<= 5",
        "split+unprotect_fields+layout / AESGCM floor": "(reference)",
        "unprotect+decode_apdu / AESGCM floor": "(reference)",
    }
    for name, value in ratios.items():
        print(f"| {name} | {value:.2f} | {targets[name]} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "us_per_call": {**rows, **crypto_rows},
                    "rounds_us": {**decode_rounds, **crypto_rounds},
                    "ratios": ratios,
                },
                handle,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

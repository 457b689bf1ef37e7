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

(ii) A ciphered (general-glo-ciphering, SC 0x30) 30-minute Data-Notification:
``security.unprotect`` + ``decode_apdu`` against the bare AES-GCM decrypt of the same
bytes. DLMS suite 0 uses a 12-byte GCM tag, which ``cryptography``'s ``AESGCM`` cannot
verify (it always takes the last 16 bytes as the tag), so the baseline is the one-shot
hazmat ``Cipher(AES, GCM(iv, tag, min_tag_length=12))`` decryptor, the cheapest call that
verifies these bytes. ``AESGCM.decrypt`` on a 16-byte-tag variant of the same plaintext is
shown for reference only.

Run::

    python benchmarks/bench_dlms.py                 # markdown table and ratios
    python benchmarks/bench_dlms.py --number 500 --repeat 7 --json out.json

Needs dlms-cosem and gurux-dlms (``pip install -e '.[interop]'``).
Targets: ours >= 5x faster than dlms-cosem and faster than gurux for (i);
unprotect+decode <= 3x the bare decrypt for (ii).
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

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smartmeter_proto.aroute import axdr, security
from smartmeter_proto.aroute.apdu import (
    DataNotification,
    GetResponseNormal,
    LongInvokeIdAndPriority,
    decode_apdu,
)
from smartmeter_proto.aroute.axdr import Data, DataType
from smartmeter_proto.aroute.axdr_datetime import CosemDateTime

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
        (Data(DataType.OCTET_STRING, bytes((0, 0, 25, 9, 0, 255))),  # push setup 0-0:25.9.0*255
         Data(DataType.VISIBLE_STRING, "A-ROUTE-000123"), *row),
    )


PUSH_APDU = DataNotification(
    push_body(),
    CosemDateTime.from_datetime(START + dt.timedelta(hours=24), clock_status=0).encode(),
    LongInvokeIdAndPriority(long_invoke_id=48),
).encode()
CIPHERED = security.protect(
    PUSH_APDU, security_control=SC, system_title=SYSTEM_TITLE, invocation_counter=IC,
    ek=EK, ak=AK,
)
_IV = SYSTEM_TITLE + IC.to_bytes(4, "big")
_AAD = bytes((SC,)) + AK
_CT_AND_TAG = CIPHERED[-(len(PUSH_APDU) + 12):]
_CT, _TAG = _CT_AND_TAG[:-12], _CT_AND_TAG[-12:]
_AESGCM = AESGCM(EK)
_CT16 = _AESGCM.encrypt(_IV, PUSH_APDU, _AAD)  # 16-byte-tag variant, reference only


def ours_unprotect_decode() -> object:
    return decode_apdu(security.unprotect(CIPHERED, ek=EK, ak=AK).apdu)


def bare_gcm_decrypt() -> bytes:
    dec = Cipher(algorithms.AES(EK), modes.GCM(_IV, _TAG, min_tag_length=12)).decryptor()
    dec.authenticate_additional_data(_AAD)
    return dec.update(_CT) + dec.finalize()


def aesgcm_16_byte_tag() -> bytes:
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
        got = [[bytes(v) if isinstance(v, bytes | bytearray) else int(v) for v in row]
               for row in fn()]  # type: ignore[attr-defined]
        assert got == expected, f"{name} decodes other values"
    assert bare_gcm_decrypt() == PUSH_APDU == aesgcm_16_byte_tag()
    assert decode_apdu(PUSH_APDU) == ours_unprotect_decode()


def best_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best of ``repeat`` runs, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


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
    rows: dict[str, float] = {}
    # Contenders of one table are timed one after another, each with the same settings.
    for name, fn in (
        ("ours decode_apdu (Data tree)", ours_decode_apdu),
        ("ours values path (decode_values)", ours_decode_values),
        *peers.items(),
    ):
        rows[name] = best_us(fn, args.number, args.repeat)
    crypto_rows: dict[str, float] = {}
    n_crypto = args.number * 20
    for name, fn in (
        ("ours unprotect + decode_apdu", ours_unprotect_decode),
        ("bare AES-GCM decrypt (hazmat GCM, 12-byte tag)", bare_gcm_decrypt),
        ("AESGCM.decrypt, 16-byte-tag variant (reference)", aesgcm_16_byte_tag),
    ):
        crypto_rows[name] = best_us(fn, n_crypto, args.repeat)

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
        "unprotect+decode / bare GCM decrypt": (
            crypto_rows["ours unprotect + decode_apdu"]
            / crypto_rows["bare AES-GCM decrypt (hazmat GCM, 12-byte tag)"]
        ),
    }
    print(f"python {platform.python_version()} on {platform.machine()}; "
          f"--number {args.number} --repeat {args.repeat} (min of repeats)\n")
    print(f"(i) 48-entry load profile, Get-Response-Normal of {len(PROFILE_APDU)} bytes\n")
    print("| decoder | µs per decode | x ours decode_apdu |")
    print("|---|---:|---:|")
    for name, us in rows.items():
        print(f"| {name} | {us:,.1f} | {us / ours_tree:.2f} |")
    print(f"\n(ii) ciphered 30-minute Data-Notification, {len(CIPHERED)} bytes "
          f"({len(PUSH_APDU)}-byte APDU)\n")
    print("| step | µs per call | x bare decrypt |")
    print("|---|---:|---:|")
    base = crypto_rows["bare AES-GCM decrypt (hazmat GCM, 12-byte tag)"]
    for name, us in crypto_rows.items():
        print(f"| {name} | {us:,.2f} | {us / base:.2f} |")
    print("\n| ratio | value | target |")
    print("|---|---:|---|")
    targets = {
        "dlms-cosem / ours decode_apdu": ">= 5",
        "dlms-cosem / ours values path": ">= 5",
        "gurux getData / ours decode_apdu": "> 1",
        "gurux getData / ours values path": "> 1",
        "gurux _GXCommon.getData / ours decode_apdu": "> 1",
        "unprotect+decode / bare GCM decrypt": "<= 3",
    }
    for name, value in ratios.items():
        print(f"| {name} | {value:.2f} | {targets[name]} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"us_per_call": {**rows, **crypto_rows}, "ratios": ratios}, handle,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Interop: gurux-dlms and dlms-cosem (PyPI) against smartmeter_proto's A-route codec.

Both directions, against both peers wherever the peer has the feature:

(a) A-XDR data: a fixed, seeded sample of a few hundred values covering every Data type
    (boundaries, long-form lengths, wildcards in dates, nesting, compact arrays). We encode
    -> the peer decodes to the same value; the peer encodes the value -> we decode the same
    Data and the bytes are ours byte for byte.
(b) Get-Response: Normal with Data, Normal with a Data-Access-Result, With-Datablock
    (raw data and an error), a 48-row load profile spread over three blocks.
(c) Data-Notification with and without date-time, with a realistic 30-minute push body.
(d) Ciphering (security suite 0): general-glo-ciphering and glo-get-response, SC 0x30 and
    0x10. We protect -> gurux ``GXDLMSChippering.decryptAesGcm`` / dlms-cosem
    ``security.decrypt`` give our plaintext; the peers encrypt -> ``unprotect`` gives theirs.
(e) AARQ/AARE (no authentication and LLS): each side encodes, the other decodes.

Where a peer lacks a type or service, the check is counted UNSUPPORTED. Where the peer has
a bug, the value or message that triggers it is named in ``QUIRKS`` beforehand (with the
peer source it comes from); a disagreement on such a value is counted PEER, anything else
unexpected is a FAIL. A quirk that does not show up is also a FAIL (the note would be stale).
gurux builds date/time values from its own decoding of our bytes (it has no other public
constructor for wildcards), and its Get-Response/AARE encoder is ``GXDLMSTranslator``
(XML -> PDU) fed with its own translation of our bytes.

Run: ``PYTHONPATH=src python interop/dlms_peers.py`` (exit 1 on any FAIL).
Needs ``gurux-dlms==1.0.203`` and ``dlms-cosem==25.1.0`` (the ``interop`` extra).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import random
import struct
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Final

from smartmeter_proto.aroute import axdr, security
from smartmeter_proto.aroute.acse import AARE, AARQ, MechanismName, decode_acse
from smartmeter_proto.aroute.acse_initiate import Conformance, InitiateRequest, InitiateResponse
from smartmeter_proto.aroute.apdu import (
    DataAccessResult,
    DataNotification,
    GetResponseNormal,
    GetResponseWithDatablock,
    LongInvokeIdAndPriority,
    decode_apdu,
)
from smartmeter_proto.aroute.axdr import BitString, CompactArray, Data, DataType, TypeDescription
from smartmeter_proto.aroute.axdr_datetime import (
    DEVIATION_NOT_SPECIFIED,
    CosemDate,
    CosemDateTime,
    CosemTime,
)

T = DataType
# Fixtures of this script (the Gurux example keys and system title, not real secrets).
EK: Final = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK: Final = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SYSTEM_TITLE: Final = bytes.fromhex("4D4D4D0000BC614E")
PASSWORD: Final = b"12345678"
SEED: Final = 20261125

# Peer bugs and limitations, each tied to where it lives in the peer's source.
QUIRKS: Final = {
    "dc-no-type": "dlms-cosem 25.1.0 dlms_data.py: BitStringData, UTF8StringData, BCDData, "
    "Float32Data, Float64Data, CompactArrayData have no from_bytes (NotImplementedError)",
    "dc-no-encode": "dlms-cosem dlms_data.py: NullData, BooleanData, UTF8/BCD/Float*/"
    "CompactArray and DateTime/Date/TimeData have no value_to_bytes: cannot encode",
    "dc-length-byte": "dlms-cosem dlms_data.py BaseDlmsData.to_bytes appends len(value) as "
    "one byte: not a BER length for >= 128 (A-XDR needs 0x81 nn), ValueError for >= 256",
    "dc-bitstring-count": "dlms-cosem dlms_data.py BitStringData: length written is the byte "
    "count, but bit-string [4] is prefixed by its number of bits (Blue Book 4.1.5)",
    "dc-deviation-zero": "dlms-cosem time.py utc_offset_minutes: `if offset_minutes:` makes a "
    "deviation of 0 (UTC) a naive datetime, same as 'not specified' (0x8000)",
    "dc-clock-status": "dlms-cosem time.py ClockStatus.from_bytes keeps bits 0-3 and 7 only; "
    "0xFF (not specified) and bits 4-6 do not survive",
    "dc-date-wildcard": "dlms-cosem time.py date_from_bytes: year 0xFFFF/month/day wildcards, "
    "0xFD/0xFE (DST, last day) end in date(None, ...) or date(...,0xFE) -> exception",
    "dc-time-wildcard": "dlms-cosem time.py time_from_bytes: hour/minute/second/hundredths "
    "0xFF are replaced by 0, indistinguishable from a real 0",
    "dc-dn-datetime": "dlms-cosem protocol/xdlms/data_notification.py to_bytes writes 0x01 "
    "before the 12 date-time octets; date-time is an OCTET STRING, length 0x0C (Green Book "
    "Data-Notification; gurux GXDLMS.handleDataNotification reads a length)",
    "dc-auth-only": "dlms-cosem security.py encrypt/decrypt always run authenticated "
    "encryption with AAD = SC||AK: SC 0x10 (authentication only, AAD = SC||AK||APDU, APDU "
    "in clear) is not implemented (see the TODO above encrypt())",
    "dc-ggc-length": "dlms-cosem protocol/xdlms/general_global_cipher.py to_bytes appends the "
    "ciphered content length as one byte: wrong for >= 128 bytes, ValueError for >= 256",
    "dc-getresp-append": "dlms-cosem protocol/xdlms/get.py GetResponseNormal.to_bytes does "
    "out.append(invoke_id_and_priority.to_bytes()) on a bytes value: TypeError, so it cannot "
    "encode any Get-Response-Normal with Data (GetResponseNormalWithError uses extend)",
    "gx-notify-dow": "gurux GXDLMSNotify.generateDataNotificationMessages re-wraps the time as "
    "GXDateTime(time); that copy (GXDateTime.__init__) keeps value/skip/extra but not "
    "dayOfWeek or status: the day of week goes out as 0xFF",
    "gx-no-tag-check": "gurux GXDLMSChippering.decryptAesGcm builds its GCM stream as "
    "GXDLMSChipperingStream(security, True, ...) (encrypt=True) for SC 0x30, and "
    "flushFinalBlock compares tags only when not encrypting: a forged tag or altered "
    "ciphertext is accepted (SC 0x10 re-encrypts and compares, so it is checked)",
    "gx-no-compact": "gurux _GXCommon.setData: COMPACT_ARRAY raises 'Invalid data type' "
    "(comment: compact array does not work with python)",
    "gx-time-hundredths": "gurux _GXCommon.getTime: datetime(..., ms) with ms = hundredths*10 "
    "puts milliseconds in the microsecond field; setTime divides by 10000: hundredths lost",
    "gx-date-dow": "gurux _GXCommon.getDate reads day-of-week and drops it ('Skip week day'), "
    "setDate then writes 0xFF: a date's day of week does not survive",
    "gx-dst-month": "gurux _GXCommon.setDateTime writes DST_BEGIN as month 0xFD and DST_END as "
    "0xFE, swapped against getDateTime/setDate and Blue Book 4.1.6.1 (0xFE = DST begin)",
    "gx-bitstring-pad": "gurux _GXCommon.setBitString: a GXBitString (what getBitString "
    "returns) is written from its bytes with count 8*len(bytes): the pad bits become data",
    "gx-utf8-hex": "gurux _GXCommon.getUtfString uses GXByteBuffer.getString, which returns a "
    "hex dump for any non-ASCII byte: UTF-8 text beyond ASCII is not decoded",
}


class Report:
    """PASS/UNSUPPORTED/PEER/FAIL counts; prints PEER/FAIL lines (the first few per key)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.seen: Counter[str] = Counter()
        self.quirks_seen: set[str] = set()
        self.quirks_expected: set[str] = set()

    def check(self, section: str, what: str, run: Callable[[], object],
              quirk: str | None = None) -> None:
        """``run`` returns True when the peers agree; ``quirk`` names a predicted peer bug."""
        try:
            outcome = run()
        except Exception as exc:  # a peer's exception is a finding, not a crash
            outcome = f"{type(exc).__name__}: {exc}"
        if quirk is not None:
            self.quirks_expected.add(quirk)
        if outcome is True and quirk is None:
            self.counts[(section, "PASS")] += 1
            return
        if quirk is not None and outcome is not True:
            self.quirks_seen.add(quirk)
            kind = "UNSUPPORTED" if quirk in ("dc-no-type", "dc-no-encode", "gx-no-compact") \
                else "PEER"
            self._line(section, kind, quirk, f"{what}: {outcome!s:.160}")
            return
        if quirk is not None:  # predicted but agreed: only a FAIL when it always triggers
            self.counts[(section, "PASS")] += 1
            return
        self._line(section, "FAIL", what, f"{what}: {outcome!r:.400}")

    def _line(self, section: str, kind: str, key: str, text: str) -> None:
        self.counts[(section, kind)] += 1
        self.seen[key] += 1
        if self.seen[key] <= 2 or kind == "FAIL":
            print(f"{kind:<11} [{section}] [{key}] {text}")

    @property
    def failed(self) -> int:
        return sum(n for (_, kind), n in self.counts.items() if kind == "FAIL")


# ============================================================= the sample of Data values


def _ints(rng: random.Random, dtype: DataType, lo: int, hi: int) -> Iterator[Data]:
    for v in {lo, hi, 0, 1, lo + 1, hi - 1, *(rng.randint(lo, hi) for _ in range(8))}:
        yield Data(dtype, v)


def _floats(rng: random.Random, dtype: DataType, fmt: str) -> Iterator[Data]:
    size = struct.calcsize(fmt)
    values = [0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), 101.3, 1e-38]
    while len(values) < 20:
        v = struct.unpack(fmt, rng.getrandbits(size * 8).to_bytes(size, "big"))[0]
        if v == v:  # no NaN: it is not equal to itself on either side
            values.append(v)
    for v in values:
        yield Data(dtype, struct.unpack(fmt, struct.pack(fmt, v))[0])


def _date_times() -> Iterator[Data]:
    for dev in (-540, -60, 0, 120, DEVIATION_NOT_SPECIFIED):
        for status in (0x00, 0x80, 0x01):
            yield Data(T.DATE_TIME, CosemDateTime(2026, 11, 25, 3, 14, 30, 0, 0, dev, status))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 3, 29, 7, 2, 0, 5, 50, -60, 0x80))
    yield Data(T.DATE_TIME, CosemDateTime(2024, 2, 29, 4, 23, 59, 59, 99, -540, 0))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 11, 25, 3, 14, 30, 0, 0, -540, 0xFF))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 11, 25, 3, 14, 30, 0, 0xFF, -540, 0x0F))
    yield Data(T.DATE_TIME, CosemDateTime(0xFFFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                          DEVIATION_NOT_SPECIFIED, 0xFF))
    yield Data(T.DATE_TIME, CosemDateTime(0xFFFF, 1, 1, 0xFF, 0, 0, 0, 0xFF,
                                          DEVIATION_NOT_SPECIFIED, 0xFF))  # every 1 Jan
    yield Data(T.DATE_TIME, CosemDateTime(0xFFFF, 0xFE, 0xFF, 0xFF, 2, 0, 0, 0xFF, -60, 0xFF))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 0xFF, 0xFE, 7, 0xFF, 0, 0, 0, -540, 0xFF))
    yield Data(T.DATE, CosemDate(2026, 11, 25, 3))
    yield Data(T.DATE, CosemDate(2026, 11, 25, 0xFF))
    yield Data(T.DATE, CosemDate(0xFFFF, 12, 31, 0xFF))
    yield Data(T.DATE, CosemDate(2026, 0xFF, 1, 0xFF))
    for t in ((14, 30, 0, 0), (23, 59, 59, 99), (0, 0, 0, 0xFF), (12, 0xFF, 0xFF, 0xFF),
              (6, 30, 15, 50)):
        yield Data(T.TIME, CosemTime(*t))


def _scalars(rng: random.Random) -> Iterator[Data]:
    yield Data(T.NULL, None)
    yield Data(T.BOOLEAN, True)
    yield Data(T.BOOLEAN, False)
    yield from _ints(rng, T.INTEGER, -128, 127)
    yield from _ints(rng, T.LONG, -0x8000, 0x7FFF)
    yield from _ints(rng, T.DOUBLE_LONG, -0x8000_0000, 0x7FFF_FFFF)
    yield from _ints(rng, T.LONG64, -(1 << 63), (1 << 63) - 1)
    yield from _ints(rng, T.UNSIGNED, 0, 0xFF)
    yield from _ints(rng, T.LONG_UNSIGNED, 0, 0xFFFF)
    yield from _ints(rng, T.DOUBLE_LONG_UNSIGNED, 0, 0xFFFF_FFFF)
    yield from _ints(rng, T.LONG64_UNSIGNED, 0, (1 << 64) - 1)
    yield from _ints(rng, T.ENUM, 0, 0xFF)
    for v in (0x00, 0x12, 0x99, 0x45):
        yield Data(T.BCD, v)
    yield from _floats(rng, T.FLOAT32, ">f")
    yield from _floats(rng, T.FLOAT64, ">d")
    for n in (0, 1, 5, 6, 12, 16, 127, 128, 200, 255, 256, 300, 1000):
        yield Data(T.OCTET_STRING, bytes(rng.getrandbits(8) for _ in range(n)))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -_.:/"
    for n in (0, 1, 8, 14, 32, 127, 128, 129, 255, 256):
        yield Data(T.VISIBLE_STRING, "".join(rng.choice(alphabet) for _ in range(n)))
    for s in ("", "abc", "電力量計 A-route", "Zähler Ünïcödé", "⚡🔌", "x" * 130):
        yield Data(T.UTF8_STRING, s)
    for bits in ("", "1", "0", "10110", "10000000", "101100111", "1" * 16,
                 "0110" * 6, "1" * 64, "10" * 70):
        yield Data(T.BIT_STRING, BitString.from_bits(bits))
    yield from _date_times()


def _containers(rng: random.Random, scalars: list[Data]) -> Iterator[Data]:
    # Containers nest only types that gurux's native values can carry (see to_gurux).
    nestable = [d for d in scalars if d.type not in (T.UTF8_STRING, T.BCD, T.DATE, T.TIME,
                                                     T.DATE_TIME)]
    yield Data(T.ARRAY, ())
    yield Data(T.STRUCTURE, ())
    for n in (1, 3, 10, 127, 128, 200):
        yield Data(T.ARRAY, tuple(Data(T.DOUBLE_LONG_UNSIGNED, rng.randint(0, 0xFFFF_FFFF))
                                  for _ in range(n)))
    for _ in range(30):
        yield Data(T.STRUCTURE, tuple(rng.choice(nestable) for _ in range(rng.randint(1, 8))))
    for _ in range(10):
        inner = Data(T.STRUCTURE, tuple(rng.choice(nestable) for _ in range(3)))
        yield Data(T.ARRAY, (inner, Data(T.ARRAY, (inner, inner)), Data(T.STRUCTURE, ())))
    yield PROFILE
    row = TypeDescription(T.STRUCTURE, 2, (TypeDescription(T.DOUBLE_LONG_UNSIGNED),
                                           TypeDescription(T.LONG_UNSIGNED)))
    yield Data(T.COMPACT_ARRAY, CompactArray(row, tuple(
        Data(T.STRUCTURE, (Data(T.DOUBLE_LONG_UNSIGNED, 1000 + i), Data(T.LONG_UNSIGNED, i)))
        for i in range(5))))
    yield Data(T.COMPACT_ARRAY, CompactArray(TypeDescription(T.LONG), tuple(
        Data(T.LONG, v) for v in (-3, 0, 7, 0x7FFF))))


def _profile_row(i: int) -> Data:
    when = CosemDateTime(2026, 11, 24, 2, i // 2, 30 * (i % 2), 0, 0, -540, 0)
    return Data(T.STRUCTURE, (
        Data(T.OCTET_STRING, when.encode()),
        Data(T.DOUBLE_LONG_UNSIGNED, 1_234_000 + 150 * i),  # import Wh
        Data(T.DOUBLE_LONG_UNSIGNED, 56_000 + 7 * i),  # export Wh
        Data(T.LONG_UNSIGNED, 1010 + i % 7),  # voltage 0.1 V
        Data(T.UNSIGNED, 0 if i % 12 else 0x08),  # status
    ))


PROFILE: Final = Data(T.ARRAY, tuple(_profile_row(i) for i in range(48)))
PUSH_BODY: Final = Data(T.STRUCTURE, (
    Data(T.OCTET_STRING, bytes((0, 0, 25, 9, 0, 255))),  # push setup 0-0:25.9.0*255
    Data(T.VISIBLE_STRING, "A-ROUTE-000123"),
    *_profile_row(47).value,  # type: ignore[misc]
))
PUSH_TIME: Final = CosemDateTime.from_datetime(  # end of the 00:00-00:30 JST period
    _dt.datetime(2026, 11, 25, 0, 30, tzinfo=_dt.timezone(_dt.timedelta(hours=9))),
    clock_status=0)


def sample() -> list[Data]:
    rng = random.Random(SEED)
    scalars = list(_scalars(rng))
    return scalars + list(_containers(rng, scalars))


# ============================================================= canonical forms


def _dt_fields(v: CosemDateTime) -> tuple[int, ...]:
    return (v.year, v.month, v.day, v.day_of_week, v.hour, v.minute, v.second, v.hundredths,
            v.deviation, v.clock_status)


def canon(d: Data) -> object:
    """Our Data as plain comparable values (floats by their bits)."""
    v = d.value
    if d.type in (T.ARRAY, T.STRUCTURE):
        return [canon(x) for x in v]  # type: ignore[attr-defined]
    if isinstance(v, CompactArray):
        return [canon(x) for x in v.elements]
    if isinstance(v, BitString):
        return v.bits()
    if isinstance(v, CosemDateTime):
        return ("date-time", *_dt_fields(v))
    if isinstance(v, CosemDate):
        return ("date", v.year, v.month, v.day, v.day_of_week)
    if isinstance(v, CosemTime):
        return ("time", v.hour, v.minute, v.second, v.hundredths)
    if d.type is T.FLOAT32:
        return struct.pack(">f", v)
    if d.type is T.FLOAT64:
        return struct.pack(">d", v)
    return v


# --------------------------------------------------------------------- gurux


def _reverse24(bits: int) -> int:
    return int(format(bits, "024b")[::-1], 2)



class Gurux:
    """gurux-dlms access: value conversion both ways, a PDU-interface client."""

    def __init__(self) -> None:
        import gurux_dlms as g  # type: ignore[import-untyped]
        from gurux_dlms.enums import DataType as GT  # type: ignore[import-untyped]
        from gurux_dlms.enums import DateTimeExtraInfo, DateTimeSkips, InterfaceType
        from gurux_dlms.GXDLMSSettings import GXDLMSSettings  # type: ignore[import-untyped]
        from gurux_dlms.internal._GXCommon import _GXCommon  # type: ignore[import-untyped]
        from gurux_dlms.internal._GXDataInfo import _GXDataInfo  # type: ignore[import-untyped]

        self.g, self.GT, self.common, self.info = g, GT, _GXCommon, _GXDataInfo
        self.skips, self.extra = DateTimeSkips, DateTimeExtraInfo
        self.settings = GXDLMSSettings(False, None)
        self.pdu = InterfaceType.PDU
        self.wrap: dict[DataType, Any] = {
            T.INTEGER: g.GXInt8, T.LONG: g.GXInt16, T.DOUBLE_LONG: g.GXInt32,
            T.LONG64: g.GXInt64, T.UNSIGNED: g.GXUInt8, T.LONG_UNSIGNED: g.GXUInt16,
            T.DOUBLE_LONG_UNSIGNED: g.GXUInt32, T.LONG64_UNSIGNED: g.GXUInt64,
            T.ENUM: g.GXEnum, T.FLOAT32: g.GXFloat32, T.FLOAT64: g.GXFloat64,
        }

    def client(self, **kw: Any) -> Any:
        return self.g.GXDLMSClient(True, interfaceType=self.pdu, **kw)

    def decode(self, data: bytes) -> object:
        buf = self.g.GXByteBuffer(data)
        value = self.common.getData(self.settings, buf, self.info())
        if buf.position != len(data):
            raise AssertionError(f"gurux consumed {buf.position} of {len(data)} bytes")
        return value

    def canon(self, v: object) -> object:
        g, s, x = self.g, self.skips, self.extra
        if isinstance(v, g.GXTime):
            t = v.value
            return ("time", 0xFF if v.skip & s.HOUR else t.hour,
                    0xFF if v.skip & s.MINUTE else t.minute,
                    0xFF if v.skip & s.SECOND else t.second,
                    0xFF if v.skip & s.MILLISECOND else t.microsecond // 10_000)
        if isinstance(v, g.GXDate):
            return ("date", *self._date_part(v))
        if isinstance(v, g.GXDateTime):
            t = v.value
            dev = DEVIATION_NOT_SPECIFIED if v.skip & s.DEVITATION else \
                -int(t.utcoffset().total_seconds() // 60)
            return ("date-time", *self._date_part(v),
                    0xFF if v.skip & s.HOUR else t.hour,
                    0xFF if v.skip & s.MINUTE else t.minute,
                    0xFF if v.skip & s.SECOND else t.second,
                    0xFF if v.skip & s.MILLISECOND else t.microsecond // 10_000, dev,
                    int(v.status))
        del x
        if isinstance(v, g.GXBitString):
            return v.toString()
        if isinstance(v, g.GXFloat32):
            return struct.pack(">f", v)
        if isinstance(v, g.GXFloat64):
            return struct.pack(">d", v)
        if isinstance(v, list):
            return [self.canon(i) for i in v]
        if isinstance(v, bytearray):
            return bytes(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return int(v)
        return v

    def _date_part(self, v: Any) -> tuple[int, ...]:
        s, x, t = self.skips, self.extra, v.value
        month = 0xFE if v.extra & x.DST_BEGIN else 0xFD if v.extra & x.DST_END else \
            0xFF if v.skip & s.MONTH else t.month
        day = 0xFE if v.extra & x.LAST_DAY else 0xFD if v.extra & x.LAST_DAY2 else \
            0xFF if v.skip & s.DAY else t.day
        return (0xFFFF if v.skip & s.YEAR else t.year, month, day,
                0xFF if v.skip & s.DAY_OF_WEEK else v.dayOfWeek)

    def native(self, d: Data, top: bool = True) -> tuple[Any, Any]:
        """(gurux DataType, gurux value) for ``d``; nested values carry their type."""
        g, GT, v = self.g, self.GT, d.value
        if d.type in (T.ARRAY, T.STRUCTURE):
            box = g.GXArray() if d.type is T.ARRAY else g.GXStructure()
            box.extend(self.native(i, False)[1] for i in v)  # type: ignore[attr-defined]
            return (GT.ARRAY if d.type is T.ARRAY else GT.STRUCTURE), box
        if d.type in self.wrap:
            return GT(int(d.type)), self.wrap[d.type](v)
        if d.type in (T.DATE_TIME, T.DATE, T.TIME):
            return GT(int(d.type)), self.decode(axdr.encode_data(d))
        if isinstance(v, BitString):
            return GT.BITSTRING, g.GXBitString(v.bits())
        if d.type is T.OCTET_STRING:
            return GT.OCTET_STRING, bytearray(v)  # type: ignore[call-overload]
        if not top and d.type in (T.UTF8_STRING, T.BCD):
            raise AssertionError("gurux infers nested types from Python types")
        return GT(int(d.type)), v

    def encode(self, d: Data) -> bytes:
        dtype, value = self.native(d)
        buf = self.g.GXByteBuffer()
        self.common.setData(self.settings, buf, dtype, value)
        return bytes(buf.array())

    def conformance(self, bits: int) -> Any:
        """gurux numbers conformance bits from the first bit on the wire (enums/Conformance.py:
        GET = 0x80000); ours are the 24-bit wire value (GET = 0x10): reverse the bits."""
        from gurux_dlms.enums import Conformance as C

        return C(_reverse24(bits))

    def quiet(self, fn: Callable[[], Any]) -> Any:
        """gurux's decryptor prints 'Encryption is applied.' and the like: keep them out."""
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()


# --------------------------------------------------------------------- dlms-cosem


class Cosem:
    def __init__(self) -> None:
        from dlms_cosem import dlms_data  # type: ignore[import-untyped]
        from dlms_cosem import security as sec
        from dlms_cosem import time as ctime
        from dlms_cosem.connection import XDlmsApduFactory  # type: ignore[import-untyped]
        from dlms_cosem.protocol import acse, xdlms  # type: ignore[import-untyped]

        self.data, self.sec, self.time, self.acse, self.xdlms = dlms_data, sec, ctime, acse, xdlms
        self.apdu = XDlmsApduFactory.apdu_from_bytes

    def data_access(self, code: int) -> Any:
        from dlms_cosem import enumerations

        return enumerations.DataAccessResult(int(code))

    def enum(self, name: str, value: int) -> Any:
        from dlms_cosem import enumerations

        return getattr(enumerations, name)(value)

    def long_invoke(self, long_invoke_id: int) -> Any:
        from dlms_cosem.protocol.xdlms.data_notification import LongInvokeIdAndPriority as L  # type: ignore[import-untyped]

        return L(long_invoke_id=long_invoke_id)

    def conformance(self, bits: int) -> Any:
        from dlms_cosem.protocol.xdlms.conformance import Conformance as C  # type: ignore[import-untyped]

        return C.from_bytes(bits.to_bytes(3, "big"))

    @staticmethod
    def conformance_int(value: Any) -> int:
        return int.from_bytes(value.to_bytes(), "big")

    def decode(self, data: bytes) -> Any:
        parsed = self.data.DlmsDataParser().parse(data)
        if len(parsed) != 1:
            raise AssertionError(f"dlms-cosem parsed {len(parsed)} values")
        return parsed[0]

    def canon(self, obj: Any) -> object:
        dd = self.data
        if isinstance(obj, (dd.DataArray, dd.DataStructure)):
            return [self.canon(i) for i in obj.value]
        if isinstance(obj, dd.DateTimeData):
            when, status = obj.value
            off = when.utcoffset()
            return ("date-time", when.replace(tzinfo=None),
                    None if off is None else int(off.total_seconds() // 60),
                    None if status is None else status.to_bytes()[0])
        if isinstance(obj, dd.DateData):
            return ("date", obj.value)
        if isinstance(obj, dd.TimeData):
            return ("time", obj.value)
        v = obj.to_python()
        return bytes(v) if isinstance(v, bytearray) else v

    @staticmethod
    def expected(d: Data) -> object:
        """What dlms-cosem's Python values must be for ``d`` (dates as datetime objects)."""
        import datetime as dt

        v = d.value
        if d.type in (T.ARRAY, T.STRUCTURE):
            return [Cosem.expected(i) for i in v]  # type: ignore[attr-defined]
        if isinstance(v, CosemDateTime):
            if 0xFF in (v.hour, v.minute, v.second):
                return ("date-time with wildcards", *_dt_fields(v))
            hs = 0 if v.hundredths == 0xFF else v.hundredths
            naive = dt.datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, hs * 10_000)
            off = None if v.deviation == DEVIATION_NOT_SPECIFIED else -v.deviation
            return ("date-time", naive, off, v.clock_status)
        if isinstance(v, CosemDate):
            return ("date", dt.date(v.year, v.month, v.day))
        if isinstance(v, CosemTime):
            if 0xFF in (v.hour, v.minute, v.second):
                return ("time with wildcards", v.hour, v.minute, v.second)
            hs = 0 if v.hundredths == 0xFF else v.hundredths
            return ("time", dt.time(v.hour, v.minute, v.second, hs * 10_000))
        return canon(d)

    def native(self, d: Data) -> Any:
        cls = self.data.DlmsDataFactory.get_data_class(int(d.type))
        v = d.value
        if d.type in (T.ARRAY, T.STRUCTURE):
            return cls([self.native(i) for i in v])  # type: ignore[attr-defined]
        if isinstance(v, BitString):
            return cls(v.data)
        return cls(v)

    def encode(self, d: Data) -> bytes:
        return bytes(self.native(d).to_bytes())


# ============================================================= (a) data values


def _walk(d: Data) -> Iterator[Data]:
    yield d
    if d.type in (T.ARRAY, T.STRUCTURE):
        for x in d.value:  # type: ignore[attr-defined]
            yield from _walk(x)


def _types(d: Data) -> set[DataType]:
    return {x.type for x in _walk(d)}


def gurux_quirk(d: Data, direction: str) -> str | None:
    for x in _walk(d):
        v = x.value
        if direction == "encode" and x.type is T.COMPACT_ARRAY:
            return "gx-no-compact"
        if isinstance(v, CosemTime) and v.hundredths not in (0, 0xFF):
            return "gx-time-hundredths"
        if isinstance(v, CosemDate) and v.day_of_week != 0xFF:
            return "gx-date-dow"
        if direction == "encode" and isinstance(v, CosemDateTime) and v.month in (0xFD, 0xFE):
            return "gx-dst-month"
        if direction == "encode" and isinstance(v, BitString) and v.bit_count % 8:
            return "gx-bitstring-pad"
        if direction == "decode" and x.type is T.UTF8_STRING and not str(v).isascii():
            return "gx-utf8-hex"
    return None


_DC_NO_DECODE = {T.BIT_STRING, T.UTF8_STRING, T.BCD, T.FLOAT32, T.FLOAT64, T.COMPACT_ARRAY}
_DC_NO_ENCODE = _DC_NO_DECODE - {T.BIT_STRING} | {T.NULL, T.BOOLEAN, T.DATE_TIME, T.DATE, T.TIME}


def cosem_quirk(d: Data, direction: str) -> str | None:
    types = _types(d)
    if types & (_DC_NO_DECODE if direction == "decode" else _DC_NO_ENCODE):
        return "dc-no-type" if direction == "decode" else "dc-no-encode"
    for x in _walk(d):
        v = x.value
        if direction == "encode":
            if isinstance(v, (bytes, str)) and len(v) >= 0x80:
                return "dc-length-byte"
            if isinstance(v, BitString):
                return "dc-bitstring-count"
            continue
        if isinstance(v, (CosemDateTime, CosemDate)) and (
                v.year == 0xFFFF or v.month >= 0xFD or v.day >= 0xFD):  # 0xFF is >= 0xFD
            return "dc-date-wildcard"
        if isinstance(v, (CosemDateTime, CosemTime)) and 0xFF in (v.hour, v.minute, v.second):
            return "dc-time-wildcard"
        if isinstance(v, CosemDateTime):
            if v.deviation == 0:
                return "dc-deviation-zero"
            if v.clock_status & 0x70:
                return "dc-clock-status"
    return None


def check_values(report: Report, gx: Gurux, dc: Cosem) -> None:
    values = sample()
    print(f"INFO        (a) {len(values)} Data values, "
          f"{len({t for d in values for t in _types(d)})} of {len(DataType)} types")
    for i, d in enumerate(values):
        ours = axdr.encode_data(d)
        label = f"#{i} {d.type.name.lower()} {ours[:24].hex()}{'..' if len(ours) > 24 else ''}"

        def gx_decode(d: Data = d, ours: bytes = ours) -> object:
            got = gx.canon(gx.decode(ours))
            return True if got == canon(d) else f"gurux {got!r:.120} != ours {canon(d)!r:.120}"

        def gx_encode(d: Data = d, ours: bytes = ours) -> object:
            theirs = gx.encode(d)
            if axdr.decode_data(theirs) != d:
                return f"we decode {axdr.decode_data(theirs)!r:.120}"
            return True if theirs == ours else f"bytes differ: {theirs.hex()[:80]}"

        def dc_decode(d: Data = d, ours: bytes = ours) -> object:
            got, want = dc.canon(dc.decode(ours)), Cosem.expected(d)
            return True if got == want else f"dlms-cosem {got!r:.120} != {want!r:.120}"

        def dc_encode(d: Data = d, ours: bytes = ours) -> object:
            theirs = dc.encode(d)
            if axdr.decode_data(theirs) != d:
                return f"we decode {axdr.decode_data(theirs)!r:.100}"
            return True if theirs == ours else f"bytes differ: {theirs.hex()[:80]}"

        report.check("a gurux decode", label, gx_decode, gurux_quirk(d, "decode"))
        report.check("a gurux encode", label, gx_encode, gurux_quirk(d, "encode"))
        report.check("a cosem decode", label, dc_decode, cosem_quirk(d, "decode"))
        report.check("a cosem encode", label, dc_encode, cosem_quirk(d, "encode"))



# ============================================================= (b) Get-Response


def _gx_server(gx: Gurux, max_pdu: int = 0xFFFF) -> Any:
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings

    settings = GXDLMSSettings(True, None)
    settings.interfaceType = gx.pdu
    settings.maxPduSize = max_pdu
    return settings


def _gx_get_response(gx: Gurux, data: bytes | None, status: int, max_pdu: int = 0xFFFF
                     ) -> list[bytes]:
    """gurux's server-side encoder (GXDLMS.getLnMessages, as GXDLMSLNCommandHandler uses)."""
    from gurux_dlms.enums import Command
    from gurux_dlms.GXDLMS import GXDLMS  # type: ignore[import-untyped]
    from gurux_dlms.GXDLMSLNParameters import GXDLMSLNParameters  # type: ignore[import-untyped]

    bb = gx.g.GXByteBuffer(data) if data is not None else gx.g.GXByteBuffer()
    params = GXDLMSLNParameters(_gx_server(gx, max_pdu), 1, Command.GET_RESPONSE, 1, None, bb,
                                status)
    return [bytes(m) for m in GXDLMS.getLnMessages(params)]


def _gx_read(gx: Gurux, apdus: list[bytes]) -> Any:
    """Feed Get-Response APDUs to a gurux client (PDU interface): the reply it assembles."""
    client, reply = gx.client(), gx.g.GXReplyData()
    for apdu in apdus:
        client.getData(gx.g.GXByteBuffer(apdu), reply)
        if reply.isMoreData():
            client.receiverReady(reply)  # what gurux sends next: moves its block counter
    if reply.isMoreData():
        raise AssertionError("gurux still waits for more blocks")
    return reply


def check_get(report: Report, gx: Gurux, dc: Cosem) -> None:
    values = [*[d for d in sample() if d.type is not T.COMPACT_ARRAY][::7], PROFILE, PUSH_BODY]
    for d in values:
        ours = GetResponseNormal(d).encode()
        label = f"Get-Response-Normal {d.type.name.lower()} {len(ours)} bytes"

        def gx_dec(d: Data = d, ours: bytes = ours) -> object:
            return gx.canon(_gx_read(gx, [ours]).value) == canon(d) or "value differs"

        def dc_dec(d: Data = d, ours: bytes = ours) -> object:
            apdu = dc.apdu(ours)
            return dc.canon(dc.decode(apdu.data)) == Cosem.expected(d) or "value differs"

        def gx_enc(d: Data = d) -> object:
            (theirs,) = _gx_get_response(gx, axdr.encode_data(d), 0)
            got = decode_apdu(theirs)
            return (isinstance(got, GetResponseNormal) and got.result == d
                    and got.invoke.invoke_id == 1) or f"we decode {got!r:.100}"

        def dc_enc(d: Data = d, ours: bytes = ours) -> object:
            theirs = dc.xdlms.GetResponseNormal(axdr.encode_data(d)).to_bytes()
            return theirs == ours or f"bytes differ {theirs.hex()[:60]}"

        report.check("b gurux decode", label, gx_dec, gurux_quirk(d, "decode"))
        report.check("b cosem decode", label, dc_dec, cosem_quirk(d, "decode"))
        report.check("b gurux encode", label, gx_enc, gurux_quirk(d, "encode"))
        report.check("b cosem encode", label, dc_enc, "dc-getresp-append")
    for code in (DataAccessResult.HARDWARE_FAULT, DataAccessResult.READ_WRITE_DENIED,
                 DataAccessResult.OBJECT_UNDEFINED, DataAccessResult.OTHER_REASON):
        ours = GetResponseNormal(code).encode()
        label = f"Get-Response-Normal {code.name}"
        def gx_err_dec(o: bytes = ours, c: int = code) -> object:
            return _gx_read(gx, [o]).error == c or "error differs"

        def dc_err_dec(o: bytes = ours, c: int = code) -> object:
            return dc.apdu(o).error == c or "error differs"

        def gx_err_enc(c: int = code) -> object:
            got = decode_apdu(_gx_get_response(gx, None, c)[0])
            return (isinstance(got, GetResponseNormal) and got.result == c) or f"{got!r:.100}"

        def dc_err_enc(o: bytes = ours, c: int = code) -> object:
            theirs = dc.xdlms.GetResponseNormalWithError(dc.data_access(c)).to_bytes()
            return theirs == o or "bytes differ"

        report.check("b gurux decode", label, gx_err_dec)
        report.check("b cosem decode", label, dc_err_dec)
        report.check("b gurux encode", label, gx_err_enc)
        report.check("b cosem encode", label, dc_err_enc)
    # With-Datablock: the 48-row profile (1,490 bytes of Data) in three blocks.
    raw = axdr.encode_data(PROFILE)
    cuts = [raw[:500], raw[500:1000], raw[1000:]]
    blocks = [GetResponseWithDatablock(i == 2, i + 1, b).encode() for i, b in enumerate(cuts)]
    report.check("b gurux decode", "With-Datablock x3 (48-row profile)", lambda: (
        gx.canon(_gx_read(gx, blocks).value) == canon(PROFILE)) or "value differs")

    def dc_blocks() -> object:
        got = [dc.apdu(b) for b in blocks]
        ok = [type(g).__name__ for g in got] == ["GetResponseWithBlock"] * 2 + [
            "GetResponseLastBlock"] and [g.block_number for g in got] == [1, 2, 3]
        data = b"".join(g.data for g in got)
        return (ok and dc.canon(dc.decode(data)) == Cosem.expected(PROFILE)) or "differs"

    report.check("b cosem decode", "With-Datablock x3 (48-row profile)", dc_blocks)

    def gx_blocks() -> object:
        theirs = _gx_get_response(gx, raw, 0, max_pdu=512)
        got = [decode_apdu(b) for b in theirs]
        if not all(isinstance(g, GetResponseWithDatablock) for g in got):
            return f"not all datablocks: {got!r:.100}"
        joined = b"".join(g.result for g in got)  # type: ignore[union-attr,misc]
        return (joined == raw and got[-1].last_block  # type: ignore[union-attr]
                and [g.block_number for g in got] == list(range(1, len(got) + 1))  # type: ignore[union-attr]
                ) or "blocks differ"

    report.check("b gurux encode", "With-Datablock (gurux splits at max PDU 512)", gx_blocks)

    def dc_enc_blocks() -> object:
        theirs = [dc.xdlms.GetResponseWithBlock(cuts[0], 1).to_bytes(),
                  dc.xdlms.GetResponseWithBlock(cuts[1], 2).to_bytes(),
                  dc.xdlms.GetResponseLastBlock(cuts[2], 3).to_bytes()]
        return theirs == blocks or f"{[t.hex()[:30] for t in theirs]}"

    report.check("b cosem encode", "With-Datablock x3 (48-row profile)", dc_enc_blocks)
    err = GetResponseWithDatablock(True, 2, DataAccessResult.DATA_BLOCK_NUMBER_INVALID).encode()
    report.check("b gurux decode", "With-Datablock last block with Data-Access-Result", lambda: (
        _gx_read(gx, [err]).error == DataAccessResult.DATA_BLOCK_NUMBER_INVALID) or "differs")

    def dc_err() -> object:
        got = dc.apdu(err)
        return (type(got).__name__ == "GetResponseLastBlockWithError" and got.block_number == 2
                and got.error == DataAccessResult.DATA_BLOCK_NUMBER_INVALID) or f"{got!r:.100}"

    report.check("b cosem decode", "With-Datablock last block with Data-Access-Result", dc_err)
    report.check("b cosem encode", "With-Datablock last block with Data-Access-Result", lambda: (
        dc.xdlms.GetResponseLastBlockWithError(
            dc.data_access(DataAccessResult.DATA_BLOCK_NUMBER_INVALID), 2).to_bytes() == err)
        or "bytes differ")


# ============================================================= (c) Data-Notification


def check_notification(report: Report, gx: Gurux, dc: Cosem) -> None:
    import datetime as dt

    from gurux_dlms import GXDateTime

    when = PUSH_TIME.to_datetime()
    for date_time in (PUSH_TIME.encode(), None):
        for body in (PUSH_BODY, PROFILE):
            ours = DataNotification(body, date_time, LongInvokeIdAndPriority(48)).encode()
            label = (f"Data-Notification {'with' if date_time else 'without'} date-time, "
                     f"{'30-minute push' if body is PUSH_BODY else '48-row profile'}")

            def gx_dec(ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
                       ) -> object:
                reply = _gx_read(gx, [ours])
                time = None if reply.time is None else gx.canon(reply.time)
                want = None if date_time is None else canon(Data(T.DATE_TIME, PUSH_TIME))
                return (gx.canon(reply.value) == canon(body) and time == want
                        and reply.invokeId == 48) or f"time {time} invoke {reply.invokeId}"

            def dc_dec(ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
                       ) -> object:
                got = dc.apdu(ours)
                want = None if date_time is None else when
                return (dc.canon(dc.decode(got.body)) == Cosem.expected(body)
                        and got.date_time == want
                        and got.long_invoke_id_and_priority.long_invoke_id == 48) or "differs"

            def gx_enc(ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
                       ) -> object:
                notify = gx.g.GXDLMSNotify(True, 1, 1, gx.pdu)
                notify.settings.maxPduSize = 0xFFFF
                gtime = None if date_time is None else GXDateTime(when)
                if gtime is not None:  # GXDateTime(datetime) leaves day of week 0xFF
                    gtime.status, gtime.dayOfWeek = PUSH_TIME.clock_status, PUSH_TIME.day_of_week
                (theirs,) = notify.generateDataNotificationMessages(
                    gtime, gx.g.GXByteBuffer(axdr.encode_data(body)))
                got = decode_apdu(bytes(theirs))
                if not isinstance(got, DataNotification) or got.body != body:
                    return f"we decode {got!r:.160}"
                if date_time is None or got.date_time is None:
                    return got.date_time == date_time or f"date-time {got.date_time!r}"
                if got.date_time[:4] + got.date_time[5:] != date_time[:4] + date_time[5:]:
                    return f"date-time {got.date_time.hex()} != {date_time.hex()}"
                report.check("c gurux encode", "  ...its date-time day of week", lambda: (
                    got.date_time == date_time) or f"{got.date_time.hex()}",  # type: ignore[union-attr]
                    "gx-notify-dow")
                return True

            def dc_enc(ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
                       ) -> object:
                theirs = dc.xdlms.DataNotification(
                    dc.long_invoke(48), None if date_time is None else when,
                    axdr.encode_data(body)).to_bytes()
                got = decode_apdu(theirs)
                return theirs == ours or f"we decode {got!r:.100} from {theirs[:20].hex()}"

            report.check("c gurux decode", label, gx_dec)
            report.check("c cosem decode", label, dc_dec)
            report.check("c gurux encode", label, gx_enc)
            report.check("c cosem encode", label, dc_enc,
                         "dc-dn-datetime" if date_time is not None else None)
    del dt


# ============================================================= (d) ciphering


def _raises(run: Callable[[], object]) -> object:
    try:
        run()
    except Exception:  # any refusal will do: the peers use ValueError/DecryptionError
        return True
    return "accepted a tampered tag"


def _split_service_ciphered(data: bytes) -> tuple[int, int, bytes]:
    """(SC, IC, ciphered text) of a service-specific glo- APDU: tag, BER length, SC, IC, text."""
    pos = 1
    n = data[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        n, pos = int.from_bytes(data[pos:pos + k], "big"), pos + k
    if pos + n != len(data):
        raise AssertionError("length does not cover the content")
    return data[pos], int.from_bytes(data[pos + 1:pos + 5], "big"), data[pos + 5:]


def check_ciphering(report: Report, gx: Gurux, dc: Cosem) -> None:
    from gurux_dlms.AesGcmParameter import AesGcmParameter  # type: ignore[import-untyped]
    from gurux_dlms.enums import Security

    gsec = {0x30: Security.AUTHENTICATION_ENCRYPTION, 0x10: Security.AUTHENTICATION}
    plains = {
        "Get-Response-Normal (long-unsigned)": GetResponseNormal(Data(T.LONG_UNSIGNED, 1010)
                                                                 ).encode(),
        "30-minute Data-Notification": DataNotification(
            PUSH_BODY, PUSH_TIME.encode(), LongInvokeIdAndPriority(48)).encode(),
        "48-row Get-Response-Normal": GetResponseNormal(PROFILE).encode(),
    }
    ic = 0x0000_1234
    for name, plain in plains.items():
        for sc in (0x30, 0x10):
            for service in (None, 0xCC):
                if service == 0xCC and plain[0] != 0xC4:
                    continue  # glo-get-response carries only a Get-Response
                ic += 1
                kind = "general-glo-ciphering" if service is None else "glo-get-response"
                label = f"{kind} SC 0x{sc:02X} {name} ({len(plain)} bytes)"
                ours = security.protect(plain, security_control=sc, system_title=SYSTEM_TITLE,
                                        invocation_counter=ic, ek=EK, ak=AK, service_tag=service)

                def gx_param(tag: int, sc: int = sc, ic: int = ic) -> Any:
                    p = AesGcmParameter(tag, SYSTEM_TITLE, EK, AK)
                    p.security, p.invocationCounter = gsec[sc], ic
                    return p

                def gx_dec(ours: bytes = ours, plain: bytes = plain) -> object:
                    p = gx_param(ours[0])
                    got = gx.quiet(lambda: gx.g.GXDLMSChippering.decryptAesGcm(
                        gx.settings, p, gx.g.GXByteBuffer(ours)))
                    return bytes(got) == plain or f"gurux plaintext {bytes(got)[:16].hex()}"

                def gx_enc(ours: bytes = ours, plain: bytes = plain, service: int | None = service
                           ) -> object:
                    theirs = bytes(gx.g.GXDLMSChippering.encryptAesGcm(
                        gx_param(service or 0xDB), plain))
                    got = security.unprotect(theirs, ek=EK, ak=AK, system_title=SYSTEM_TITLE)
                    return (got.apdu == plain and theirs == ours) or "differs"

                def dc_dec(ours: bytes = ours, plain: bytes = plain, service: int | None = service,
                           sc: int = sc) -> object:
                    if service is None:
                        got = dc.xdlms.GeneralGlobalCipher.from_bytes(ours).to_plain_apdu(EK, AK)
                    else:
                        sc_, ic_, text = _split_service_ciphered(ours)
                        got = dc.sec.decrypt(dc.sec.SecurityControlField.from_bytes(bytes([sc_])),
                                             SYSTEM_TITLE, ic_, EK, text, AK)
                    return bytes(got) == plain or "plaintext differs"

                def dc_enc(ours: bytes = ours, plain: bytes = plain, service: int | None = service,
                           sc: int = sc, ic: int = ic) -> object:
                    field = dc.sec.SecurityControlField.from_bytes(bytes([sc]))
                    text = dc.sec.encrypt(field, SYSTEM_TITLE, ic, EK, plain, AK)
                    if service is None:
                        theirs = dc.xdlms.GeneralGlobalCipher(SYSTEM_TITLE, field, ic, text
                                                              ).to_bytes()
                    else:  # dlms-cosem has no glo-get-response APDU: frame its text like ours
                        theirs = ours[:len(ours) - len(text)] + text
                    got = security.unprotect(theirs, ek=EK, ak=AK, system_title=SYSTEM_TITLE)
                    return (got.apdu == plain and theirs == ours) or "differs"

                if name.startswith("Get-Response-Normal"):  # a bad tag must be refused
                    bad = ours[:-1] + bytes([ours[-1] ^ 1])
                    def gx_bad(bad: bytes = bad) -> object:
                        return _raises(lambda: gx.quiet(lambda: gx.g.GXDLMSChippering
                                                        .decryptAesGcm(gx.settings,
                                                                       gx_param(bad[0]),
                                                                       gx.g.GXByteBuffer(bad))))

                    def dc_bad(bad: bytes = bad) -> object:
                        return _raises(lambda: dc.xdlms.GeneralGlobalCipher.from_bytes(bad)
                                       .to_plain_apdu(EK, AK))

                    report.check("d gurux decrypt", f"tampered tag, {label}", gx_bad,
                                 "gx-no-tag-check" if sc == 0x30 else None)
                    if sc == 0x30 and service is None:
                        report.check("d cosem decrypt", f"tampered tag, {label}", dc_bad)
                dc_q = "dc-auth-only" if sc == 0x10 else None
                long_content = len(ours) - 12 >= 0x80 if service is None else False
                report.check("d gurux decrypt", label, gx_dec)
                report.check("d gurux encrypt", label, gx_enc)
                report.check("d cosem decrypt", label, dc_dec, dc_q)
                report.check("d cosem encrypt", label, dc_enc,
                             dc_q or ("dc-ggc-length" if long_content else None))


# ============================================================= (e) AARQ / AARE

CONFORMANCE: Final = (Conformance.GET | Conformance.SET | Conformance.ACTION
                      | Conformance.SELECTIVE_ACCESS | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
                      | Conformance.MULTIPLE_REFERENCES)


def check_association(report: Report, gx: Gurux, dc: Cosem) -> None:
    from dlms_cosem.protocol.acse import UserInformation  # type: ignore[import-untyped]
    from gurux_dlms._GXAPDU import _GXAPDU  # type: ignore[import-untyped]
    from gurux_dlms.enums import Authentication
    from gurux_dlms.enums.AssociationResult import AssociationResult  # type: ignore[import-untyped]
    from gurux_dlms.enums.SourceDiagnostic import SourceDiagnostic  # type: ignore[import-untyped]

    for lls in (False, True):
        ours_aarq = AARQ(
            user_information=InitiateRequest(CONFORMANCE, 0x0400),
            mechanism_name=MechanismName.LOW if lls else None,
            calling_authentication_value=PASSWORD if lls else None,
            sender_acse_requirements=True if lls else None,
        ).encode()
        label = f"AARQ {'LLS' if lls else 'no authentication'}"

        def gx_dec(ours: bytes = ours_aarq, lls: bool = lls) -> object:
            settings = _gx_server(gx)
            settings.proposedConformance = gx.conformance(0xFFFFFF)  # what the server offers
            _GXAPDU.parsePDU(settings, settings.cipher, gx.g.GXByteBuffer(ours), None)
            ok = (settings.negotiatedConformance == gx.conformance(int(CONFORMANCE))
                  and settings.maxPduSize == 0x0400
                  and settings.authentication == (Authentication.LOW if lls else 0))
            if lls:
                ok = ok and bytes(settings.password) == PASSWORD
            return ok or f"conformance {int(settings.negotiatedConformance):06X} " \
                f"pdu {settings.maxPduSize} auth {settings.authentication}"

        def dc_dec(ours: bytes = ours_aarq, lls: bool = lls) -> object:
            got = dc.acse.ApplicationAssociationRequest.from_bytes(ours)
            init = got.user_information.content
            ok = (dc.conformance_int(init.proposed_conformance) == int(CONFORMANCE)
                  and init.client_max_receive_pdu_size == 0x0400)
            if lls:
                ok = ok and got.authentication == 1 and got.authentication_value == PASSWORD
            return ok or f"{got!r:.200}"

        def gx_enc(lls: bool = lls) -> object:
            kw = {"forAuthentication": Authentication.LOW, "password": PASSWORD} if lls else {}
            client = gx.client(**kw)
            client.proposedConformance = gx.conformance(int(CONFORMANCE))
            client.maxReceivePDUSize = 0x0400
            (theirs,) = client.aarqRequest()
            got = decode_acse(bytes(theirs))
            if not isinstance(got, AARQ):
                return f"we decode {got!r:.200}"
            ui = got.user_information
            ok = (isinstance(ui, InitiateRequest)
                  and ui.conformance == CONFORMANCE and ui.client_max_receive_pdu_size == 0x0400
                  and got.calling_authentication_value == (PASSWORD if lls else None))
            return ok or f"we decode {got!r:.200}"

        def dc_enc(ours: bytes = ours_aarq, lls: bool = lls) -> object:
            init = dc.xdlms.InitiateRequest(dc.conformance(int(CONFORMANCE)),
                                            client_max_receive_pdu_size=0x0400)
            theirs = dc.acse.ApplicationAssociationRequest(
                UserInformation(init), authentication=dc.enum("AuthenticationMechanism", 1)
                if lls else None,
                authentication_value=PASSWORD if lls else None).to_bytes()
            got = decode_acse(theirs)
            return (theirs == ours) or f"we decode {got!r:.200} from {theirs.hex()}"

        report.check("e gurux decode", label, gx_dec)
        report.check("e cosem decode", label, dc_dec)
        report.check("e gurux encode", label, gx_enc)
        report.check("e cosem encode", label, dc_enc)

    ours_aare = AARE(user_information=InitiateResponse(CONFORMANCE, 0x0400)).encode()

    def gx_aare_dec() -> object:
        client = gx.client()
        client.proposedConformance = gx.conformance(0xFFFFFF)
        client.parseAareResponse(gx.g.GXByteBuffer(ours_aare))
        s = client.settings
        return (s.negotiatedConformance == gx.conformance(int(CONFORMANCE))
                and s.maxPduSize == 0x0400) or f"{int(s.negotiatedConformance):06X} {s.maxPduSize}"

    def dc_aare_dec() -> object:
        got = dc.acse.ApplicationAssociationResponse.from_bytes(ours_aare)
        init = got.user_information.content
        return (got.result == 0 and dc.conformance_int(init.negotiated_conformance)
                == int(CONFORMANCE) and init.server_max_receive_pdu_size == 0x0400
                ) or f"{got!r:.200}"

    def gx_aare_enc() -> object:
        settings = _gx_server(gx, 0x0400)
        settings.negotiatedConformance = gx.conformance(int(CONFORMANCE))
        out = gx.g.GXByteBuffer()
        _GXAPDU.generateAARE(settings, out, AssociationResult.ACCEPTED, SourceDiagnostic.NONE,
                             None, None, None)
        theirs = bytes(out.array())
        return theirs == ours_aare or f"we decode {decode_acse(theirs)!r:.200}"

    def dc_aare_enc() -> object:
        init = dc.xdlms.InitiateResponse(dc.conformance(int(CONFORMANCE)), 0x0400)
        theirs = dc.acse.ApplicationAssociationResponse(
            dc.enum("AssociationResult", 0), dc.enum("AcseServiceUserDiagnostics", 0),
            user_information=UserInformation(init)).to_bytes()
        return theirs == ours_aare or f"we decode {decode_acse(theirs)!r:.200}"

    report.check("e gurux decode", "AARE accepted", gx_aare_dec)
    report.check("e cosem decode", "AARE accepted", dc_aare_dec)
    report.check("e gurux encode", "AARE accepted", gx_aare_enc)
    report.check("e cosem encode", "AARE accepted", dc_aare_enc)


def main() -> int:
    report = Report()
    gx, dc = Gurux(), Cosem()
    check_values(report, gx, dc)
    check_get(report, gx, dc)
    check_notification(report, gx, dc)
    check_ciphering(report, gx, dc)
    check_association(report, gx, dc)
    stale = report.quirks_expected - report.quirks_seen
    for key in sorted(stale):
        print(f"FAIL        [quirk] {key}: predicted but never seen: {QUIRKS[key]}")
    for key in sorted(report.quirks_seen):
        print(f"NOTE        {key}: {QUIRKS[key]}")
    for (section, kind), n in sorted(report.counts.items()):
        print(f"{section:<16} {kind:<11} {n}")
    totals: Counter[str] = Counter()
    for (_, kind), n in report.counts.items():
        totals[kind] += n
    print("TOTAL            " + "  ".join(f"{k} {totals[k]}" for k in
                                          ("PASS", "UNSUPPORTED", "PEER", "FAIL")))
    return 1 if report.failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())

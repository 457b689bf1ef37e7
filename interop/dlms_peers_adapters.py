"""Peer adapters of interop/dlms_peers.py: gurux-dlms and dlms-cosem, and their quirks.

:class:`Gurux` and :class:`Cosem` convert values both ways and reach each peer's codec;
``QUIRKS`` names every known peer bug or limitation with the peer source it comes from, and
:func:`gurux_quirk`/:func:`cosem_quirk` say which one a value triggers. :class:`Report`
counts the checks; ``gx_server``/``gx_get_response``/``gx_read`` drive gurux's server-side
encoder and its client.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Final

from dlms_peers_sample import canon, dt_fields

from smartmeter_proto.aroute import axdr
from smartmeter_proto.aroute.axdr import (
    DEVIATION_NOT_SPECIFIED,
    BitString,
    CosemDate,
    CosemDateTime,
    CosemTime,
    Data,
    DataType,
)

T = DataType

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

    def check(
        self, section: str, what: str, run: Callable[[], object], quirk: str | None = None
    ) -> None:
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
            kind = (
                "UNSUPPORTED"
                if quirk in ("dc-no-type", "dc-no-encode", "gx-no-compact")
                else "PEER"
            )
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
            T.INTEGER: g.GXInt8,
            T.LONG: g.GXInt16,
            T.DOUBLE_LONG: g.GXInt32,
            T.LONG64: g.GXInt64,
            T.UNSIGNED: g.GXUInt8,
            T.LONG_UNSIGNED: g.GXUInt16,
            T.DOUBLE_LONG_UNSIGNED: g.GXUInt32,
            T.LONG64_UNSIGNED: g.GXUInt64,
            T.ENUM: g.GXEnum,
            T.FLOAT32: g.GXFloat32,
            T.FLOAT64: g.GXFloat64,
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
            return (
                "time",
                0xFF if v.skip & s.HOUR else t.hour,
                0xFF if v.skip & s.MINUTE else t.minute,
                0xFF if v.skip & s.SECOND else t.second,
                0xFF if v.skip & s.MILLISECOND else t.microsecond // 10_000,
            )
        if isinstance(v, g.GXDate):
            return ("date", *self._date_part(v))
        if isinstance(v, g.GXDateTime):
            t = v.value
            dev = (
                DEVIATION_NOT_SPECIFIED
                if v.skip & s.DEVITATION
                else -int(t.utcoffset().total_seconds() // 60)
            )
            return (
                "date-time",
                *self._date_part(v),
                0xFF if v.skip & s.HOUR else t.hour,
                0xFF if v.skip & s.MINUTE else t.minute,
                0xFF if v.skip & s.SECOND else t.second,
                0xFF if v.skip & s.MILLISECOND else t.microsecond // 10_000,
                dev,
                int(v.status),
            )
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
        month = (
            0xFE
            if v.extra & x.DST_BEGIN
            else 0xFD
            if v.extra & x.DST_END
            else 0xFF
            if v.skip & s.MONTH
            else t.month
        )
        day = (
            0xFE
            if v.extra & x.LAST_DAY
            else 0xFD
            if v.extra & x.LAST_DAY2
            else 0xFF
            if v.skip & s.DAY
            else t.day
        )
        return (
            0xFFFF if v.skip & s.YEAR else t.year,
            month,
            day,
            0xFF if v.skip & s.DAY_OF_WEEK else v.dayOfWeek,
        )

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
            return (
                "date-time",
                when.replace(tzinfo=None),
                None if off is None else int(off.total_seconds() // 60),
                None if status is None else status.to_bytes()[0],
            )
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
                return ("date-time with wildcards", *dt_fields(v))
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


# ============================================================= which quirk a value triggers


def _walk(d: Data) -> Iterator[Data]:
    yield d
    if d.type in (T.ARRAY, T.STRUCTURE):
        for x in d.value:  # type: ignore[attr-defined]
            yield from _walk(x)


def types_of(d: Data) -> set[DataType]:
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
    types = types_of(d)
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
            v.year == 0xFFFF or v.month >= 0xFD or v.day >= 0xFD
        ):  # 0xFF is >= 0xFD
            return "dc-date-wildcard"
        if isinstance(v, (CosemDateTime, CosemTime)) and 0xFF in (v.hour, v.minute, v.second):
            return "dc-time-wildcard"
        if isinstance(v, CosemDateTime):
            if v.deviation == 0:
                return "dc-deviation-zero"
            if v.clock_status & 0x70:
                return "dc-clock-status"
    return None


# --------------------------------------------------------------------- gurux server side


def gx_server(gx: Gurux, max_pdu: int = 0xFFFF) -> Any:
    from gurux_dlms.GXDLMSSettings import GXDLMSSettings

    settings = GXDLMSSettings(True, None)
    settings.interfaceType = gx.pdu
    settings.maxPduSize = max_pdu
    return settings


def gx_get_response(
    gx: Gurux, data: bytes | None, status: int, max_pdu: int = 0xFFFF
) -> list[bytes]:
    """gurux's server-side encoder (GXDLMS.getLnMessages, as GXDLMSLNCommandHandler uses)."""
    from gurux_dlms.enums import Command
    from gurux_dlms.GXDLMS import GXDLMS  # type: ignore[import-untyped]
    from gurux_dlms.GXDLMSLNParameters import GXDLMSLNParameters  # type: ignore[import-untyped]

    bb = gx.g.GXByteBuffer(data) if data is not None else gx.g.GXByteBuffer()
    params = GXDLMSLNParameters(
        gx_server(gx, max_pdu), 1, Command.GET_RESPONSE, 1, None, bb, status
    )
    return [bytes(m) for m in GXDLMS.getLnMessages(params)]


def gx_read(gx: Gurux, apdus: list[bytes]) -> Any:
    """Feed Get-Response APDUs to a gurux client (PDU interface): the reply it assembles."""
    client, reply = gx.client(), gx.g.GXReplyData()
    for apdu in apdus:
        client.getData(gx.g.GXByteBuffer(apdu), reply)
        if reply.isMoreData():
            client.receiverReady(reply)  # what gurux sends next: moves its block counter
    if reply.isMoreData():
        raise AssertionError("gurux still waits for more blocks")
    return reply

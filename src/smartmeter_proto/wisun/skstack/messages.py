"""SKSTACK IP dongle output: message types and strict line decoding.

What a Wi-SUN B-route dongle (ROHM BP35A1/BP35C0/BP35C2, Tessera RL7023)
prints on its serial port, as frozen dataclasses, and :func:`decode_line`
for one line. Lines end CRLF; ERXUDP prints its data as hex (WOPT 01) or as
DATALEN raw bytes (WOPT 00). Model differences come from
:mod:`smartmeter_proto.wisun.skstack.dialects`. Sources: ROHM "BP35A1 command
reference manual" sections 4 and 7 (as cited by smdn/Smdn.Net.SkStackIP) and
the captures named in specs/skstack/*.yaml. The stream parser and the command
builders are in :mod:`smartmeter_proto.wisun.skstack`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ...echonet.frame import ECHONET_PORT
from ...errors import DecodeError
from .dialects import Dialect, PayloadMode, get_dialect

__all__ = [
    "ECHONET_LITE_PORT",
    "LAYER",
    "PANA_PORT",
    "EAppVer",
    "EInfo",
    "ERxUdp",
    "Echo",
    "Event",
    "EventCode",
    "Ever",
    "Fail",
    "FailCode",
    "Garbled",
    "LinkLocalAddress",
    "Message",
    "Ok",
    "PanDescriptor",
    "RxHeader",
    "SecretLine",
    "UdpSendResult",
    "UnknownLine",
    "decode_line",
    "decode_pandesc",
    "mask_secrets",
]

LAYER: Final = "skstack"
CRLF: Final = b"\r\n"
#: UDP port of ECHONET Lite, 3610 (ECHONET Lite Specification Part II §4.1).
ECHONET_LITE_PORT: Final = ECHONET_PORT
#: UDP port of PANA, 716 (RFC 5191 §11); PANA over SKJOIN shows as ERXUDP on this port.
PANA_PORT: Final = 0x02CC
_SECRET_COMMANDS: Final = ("SKSETPWD", "SKSETRBID")
#: Echoed command lines that do not start with "SK" (option and UART commands).
_OTHER_COMMANDS: Final = frozenset({"ROPT", "WOPT", "RUART", "WUART"})
_IPV6_RE: Final = re.compile(r"[0-9A-Fa-f]{4}(?::[0-9A-Fa-f]{4}){7}\Z")
HEX_RE: Final = re.compile(r"[0-9A-Fa-f]+\Z")


class EventCode(IntEnum):
    """EVENT numbers (BP35A1 reference 4.8); meanings in specs/skstack/*.yaml."""

    NS_RECEIVED = 0x01
    NA_RECEIVED = 0x02
    ECHO_REQUEST_RECEIVED = 0x05
    ED_SCAN_DONE = 0x1F
    BEACON_RECEIVED = 0x20
    UDP_SENT = 0x21
    ACTIVE_SCAN_DONE = 0x22
    PANA_FAILED = 0x24
    PANA_SUCCEEDED = 0x25
    SESSION_END_REQUESTED = 0x26
    SESSION_ENDED = 0x27
    SESSION_END_TIMED_OUT = 0x28
    SESSION_EXPIRED = 0x29
    TX_LIMIT_STARTED = 0x32
    TX_LIMIT_ENDED = 0x33
    WAKEUP = 0xC0


class UdpSendResult(IntEnum):
    """PARAM of EVENT 21 (BP35A1 reference 4.8; momonga SkTxResult)."""

    SUCCESS = 0x00
    FAILURE = 0x01
    NEIGHBOR_SOLICITATION = 0x02


class FailCode(IntEnum):
    """ERxx of ``FAIL ERxx`` (BP35A1 reference 7); ER01-03, ER07-08 are reserved."""

    UNSUPPORTED_COMMAND = 4
    INVALID_ARGUMENTS = 5
    INVALID_FORMAT = 6
    UART_INPUT_ERROR = 9
    EXECUTION_FAILED = 10


def mask_secrets(text: str) -> str:
    """``text`` with whatever follows SKSETPWD/SKSETRBID replaced by ``****``."""
    for name in _SECRET_COMMANDS:
        at = text.find(name)
        if at >= 0:
            return text[: at + len(name)] + " ****"
    return text


def _masked_bytes(raw: bytes) -> str:
    return repr(mask_secrets(raw.decode("latin-1")).encode("latin-1"))


class SecretLine(bytes):
    """Command bytes carrying a secret (SKSETPWD, SKSETRBID): repr and str are masked."""

    def __repr__(self) -> str:
        return f"SecretLine({_masked_bytes(bytes(self))})"

    __str__ = __repr__


# --------------------------------------------------------------------------- messages
@dataclass(frozen=True, slots=True)
class Ok:
    """``OK`` or ``OK <value>`` (ROPT answers ``OK 01``)."""

    value: str | None = None


@dataclass(frozen=True, slots=True)
class Fail:
    """``FAIL ERxx``; ``code`` is a :class:`FailCode` or the raw number."""

    code: int


@dataclass(frozen=True, slots=True, repr=False)
class Echo:
    """A command line echoed back by the dongle (register SFE on)."""

    line: str

    def __repr__(self) -> str:
        return f"Echo(line={mask_secrets(self.line)!r})"


@dataclass(frozen=True, slots=True)
class Ever:
    """``EVER <version>``: SKSTACK IP version (answer to SKVER)."""

    version: str


@dataclass(frozen=True, slots=True)
class EAppVer:
    """``EAPPVER <version>``: application firmware version (answer to SKAPPVER)."""

    version: str


@dataclass(frozen=True, slots=True)
class EInfo:
    """``EINFO``: own link-local address, MAC, channel, PAN ID and addr16 (A1) or side (C2)."""

    ipv6: str
    mac: bytes
    channel: int
    pan_id: int
    short_addr: int | None = None
    side: int | None = None


@dataclass(frozen=True, slots=True)
class LinkLocalAddress:
    """A bare IPv6 address line: the answer to SKLL64."""

    ipv6: str


@dataclass(frozen=True, slots=True)
class PanDescriptor:
    """The ``EPANDESC`` block after EVENT 20: one PAN found by an active scan."""

    channel: int
    channel_page: int
    pan_id: int
    addr: bytes
    lqi: int
    side: int | None = None
    pair_id: str | None = None

    @property
    def rssi_dbm(self) -> float:
        """RSSI from LQI, 0.275 * LQI - 104.27 dBm (BP35A1 reference; smdn, momonga)."""
        return 0.275 * self.lqi - 104.27


@dataclass(frozen=True, slots=True)
class RxHeader:
    """Everything ERXUDP prints before DATALEN; equal for every datagram of a flow.

    ``rssi`` is the raw RSSI token (BP35C0/C2 with register SA2 = 1), else None.
    """

    src: str
    dst: str
    rport: int
    lport: int
    src_mac: bytes
    secured: bool
    side: int | None = None
    rssi: int | None = None


@dataclass(frozen=True, slots=True)
class ERxUdp:
    """``ERXUDP``: a received UDP datagram (``header``) and its data (``payload``)."""

    header: RxHeader
    payload: bytes

    @property
    def src(self) -> str:
        return self.header.src

    @property
    def dst(self) -> str:
        return self.header.dst

    @property
    def rport(self) -> int:
        return self.header.rport

    @property
    def lport(self) -> int:
        return self.header.lport

    @property
    def src_mac(self) -> bytes:
        return self.header.src_mac

    @property
    def secured(self) -> bool:
        return self.header.secured

    @property
    def side(self) -> int | None:
        return self.header.side

    @property
    def rssi(self) -> int | None:
        return self.header.rssi


@dataclass(frozen=True, slots=True)
class Event:
    """``EVENT <NUM> [<SENDER>] [<SIDE>] [<PARAM>...]``; ``code`` is an EventCode or raw int."""

    code: int
    sender: str | None
    side: int | None = None
    params: tuple[int, ...] = ()

    @property
    def param(self) -> int | None:
        """The first PARAM (EVENT 21: a :class:`UdpSendResult` value), or None."""
        return self.params[0] if self.params else None


@dataclass(frozen=True, slots=True, repr=False)
class UnknownLine:
    """A line this codec does not know (kept raw)."""

    line: bytes

    def __repr__(self) -> str:
        return f"UnknownLine(line={_masked_bytes(self.line)})"


@dataclass(frozen=True, slots=True, repr=False)
class Garbled:
    """A known line that broke its format (or overflowed a limit); the parser went on."""

    line: bytes
    reason: str

    def __repr__(self) -> str:
        return f"Garbled(line={_masked_bytes(self.line)}, reason={self.reason!r})"


Message = (
    Ok
    | Fail
    | Echo
    | Ever
    | EAppVer
    | EInfo
    | LinkLocalAddress
    | PanDescriptor
    | ERxUdp
    | Event
    | UnknownLine
    | Garbled
)

new_object = object.__new__
#: Slot setters of ERxUdp: the parser's hot path fills a new instance through them, at a
#: third of the cost of the frozen dataclass __init__ (benchmarks/bench_skstack.py).
_SET_HEADER = ERxUdp.__dict__["header"].__set__
_SET_PAYLOAD = ERxUdp.__dict__["payload"].__set__


def make_erxudp(header: RxHeader, payload: bytes) -> ERxUdp:
    obj: ERxUdp = new_object(ERxUdp)
    _SET_HEADER(obj, header)
    _SET_PAYLOAD(obj, payload)
    return obj


# --------------------------------------------------------------------------- decoding
class _Line:
    """A text line split on single spaces, with column offsets for errors."""

    __slots__ = ("parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts = text.split(" ")

    def offset(self, index: int) -> int:
        return min(sum(len(p) + 1 for p in self.parts[:index]), len(self.text))

    def error(self, index: int, reason: str) -> DecodeError:
        return DecodeError(LAYER, self.offset(index), reason)

    def hex(self, index: int, what: str, digits: int | None = None) -> int:
        if index >= len(self.parts):
            raise self.error(index, f"{what}: missing")
        tok = self.parts[index]
        if not HEX_RE.match(tok) or (digits is not None and len(tok) != digits):
            size = f"{digits} hex digits" if digits else "hex"
            raise self.error(index, f"{what}: expected {size}, found {tok[:16]!r}")
        return int(tok, 16)

    def ipv6(self, index: int, what: str) -> str:
        tok = self.parts[index] if index < len(self.parts) else ""
        if not _IPV6_RE.match(tok):
            raise self.error(index, f"{what}: expected a 39-character IPv6 address")
        return tok

    def count(self, expected: int, what: str) -> None:
        if len(self.parts) != expected:
            raise self.error(
                min(len(self.parts), expected),
                f"{what}: expected {expected - 1} fields, found {len(self.parts) - 1}",
            )


def _rssi(line: _Line, index: int) -> int:
    tok = line.parts[index]
    if tok[:1] == "-" and tok[1:].isdigit() and 2 <= len(tok) <= 4:
        return int(tok)  # signed dBm, should a firmware print it that way (unverified)
    return line.hex(index, "ERXUDP RSSI", 2 if len(tok) == 2 else 1)


def udp_header(text: str, tokens: tuple[str, ...]) -> RxHeader:
    """Decode ``ERXUDP <tokens...>``: everything before DATALEN."""
    line = _Line(text)
    line.count(len(tokens) + 1, "ERXUDP")
    addresses: list[str] = []
    ports: list[int] = []
    mac = b""
    rssi: int | None = None
    secured = False
    side: int | None = None
    for i, name in enumerate(tokens, start=1):
        if name in ("sender", "dest"):
            addresses.append(line.ipv6(i, f"ERXUDP {name.upper()}"))
        elif name in ("rport", "lport"):
            ports.append(line.hex(i, f"ERXUDP {name.upper()}", 4))
        elif name == "senderlla":
            line.hex(i, "ERXUDP SENDERLLA", 16)
            mac = bytes.fromhex(line.parts[i])
        elif name == "rssi":
            rssi = _rssi(line, i)
        elif name == "secured":
            if line.parts[i] not in ("0", "1"):
                raise line.error(i, "ERXUDP SECURED: expected 0 or 1")
            secured = line.parts[i] == "1"
        else:
            side = line.hex(i, "ERXUDP SIDE", 1)
    return RxHeader(addresses[0], addresses[1], ports[0], ports[1], mac, secured, side, rssi)


def _split_hex_erxudp(text: str, dialect: Dialect, rssi: bool) -> ERxUdp:
    head, _, data = text.rpartition(" ")
    prefix, _, size = head.rpartition(" ")
    header = udp_header(prefix, dialect.erxudp_tokens(rssi))
    return hex_payload(header, size, data, len(prefix) + 1)


def hex_payload(header: RxHeader, size: str, data: str, at: int) -> ERxUdp:
    if len(size) != 4 or not size.isalnum():
        raise DecodeError(LAYER, at, f"ERXUDP DATALEN: expected 4 hex digits, found {size[:8]!r}")
    try:
        n = int(size, 16)
        payload = bytes.fromhex(data)
    except ValueError:
        raise DecodeError(LAYER, at + 5, "ERXUDP DATA: not hex") from None
    if len(data) != 2 * n or len(payload) != n:
        raise DecodeError(LAYER, at + 5, f"ERXUDP DATA: {len(data)} hex digits for DATALEN {n}")
    return make_erxudp(header, payload)


def _decode_event(line: _Line, dialect: Dialect) -> Event:
    code = line.hex(1, "EVENT number", 2)
    spec = dialect.events.get(code)
    parts = line.parts
    if spec is not None and not spec.has_sender:
        line.count(2, f"EVENT {parts[1]}")
        return Event(_code(code, EventCode), None)
    sender = line.ipv6(2, "EVENT sender")
    side = line.hex(3, "EVENT side", 1) if dialect.event_side else None
    first = 4 if dialect.event_side else 3
    if spec is not None:
        line.count(first + spec.params, f"EVENT {parts[1]}")
    params = tuple(line.hex(i, "EVENT param", 2) for i in range(first, len(parts)))
    return Event(_code(code, EventCode), sender, side, params)


def _code(value: int, enum: type[IntEnum]) -> int:
    try:
        return enum(value)
    except ValueError:
        return value


def _decode_einfo(line: _Line, dialect: Dialect) -> EInfo:
    line.count(6, "EINFO")
    ipv6 = line.ipv6(1, "EINFO IPADDR")
    line.hex(2, "EINFO ADDR64", 16)
    channel = line.hex(3, "EINFO CHANNEL", 2)
    pan_id = line.hex(4, "EINFO PANID", 4)
    mac = bytes.fromhex(line.parts[2])
    if dialect.einfo_fields[4] == "side":
        return EInfo(ipv6, mac, channel, pan_id, side=line.hex(5, "EINFO SIDE", 1))
    return EInfo(ipv6, mac, channel, pan_id, short_addr=line.hex(5, "EINFO ADDR16", 4))


PANDESC_START: Final = object()


def decode_text(text: str, dialect: Dialect, rssi: bool) -> Message | object:
    """One complete text line (no line end) -> a message; DecodeError if malformed."""
    head = text.partition(" ")[0]
    if head == "OK":
        return Ok(text[3:] if len(text) > 2 else None)
    line = _Line(text)
    if head == "FAIL":
        line.count(2, "FAIL")
        if not re.fullmatch(r"ER[0-9]{2}", line.parts[1]):
            raise line.error(1, "FAIL: expected ERnn")
        return Fail(_code(int(line.parts[1][2:]), FailCode))
    if head == "EVENT":
        return _decode_event(line, dialect)
    if head == "ERXUDP":
        return _split_hex_erxudp(text, dialect, rssi)
    if head in ("EVER", "EAPPVER"):
        line.count(2, head)
        if not line.parts[1]:
            raise line.error(1, f"{head}: empty version")
        return Ever(line.parts[1]) if head == "EVER" else EAppVer(line.parts[1])
    if head == "EINFO":
        return _decode_einfo(line, dialect)
    if head == "EPANDESC":
        line.count(1, "EPANDESC")
        return PANDESC_START
    if head[:2] == "SK" or head in _OTHER_COMMANDS:
        return Echo(text)
    if len(text) == 39 and _IPV6_RE.match(text):
        return LinkLocalAddress(text)
    if text[:2] == "  " and ":" in text:
        raise DecodeError(LAYER, 0, "EPANDESC field line outside an EPANDESC block")
    return UnknownLine(text.encode("latin-1"))


#: Value widths of the EPANDESC keys (BP35A1 reference 4.5; PairID is CHAR[8]).
_PANDESC_DIGITS: Final = {
    "Channel": 2,
    "Channel Page": 2,
    "Pan ID": 4,
    "Addr": 16,
    "LQI": 2,
    "Side": 1,
    "PairID": 8,
}


def decode_pandesc(fields: dict[str, str], dialect: str | Dialect = "bp35a1") -> PanDescriptor:
    """An EPANDESC block from its ``Key: value`` fields; DecodeError if one is missing or bad."""
    d = get_dialect(dialect)
    ints: dict[str, int] = {}
    addr = b""
    pair_id: str | None = None
    for key in d.epandesc_keys:
        raw = fields.get(key)
        if raw is None:
            if key in d.epandesc_optional:
                continue
            raise DecodeError(LAYER, 0, f"EPANDESC: {key} missing")
        digits = _PANDESC_DIGITS[key]
        if len(raw) != digits or not (raw.isalnum() if key == "PairID" else HEX_RE.match(raw)):
            raise DecodeError(LAYER, 0, f"EPANDESC {key}: expected {digits} hex digits")
        if key == "PairID":
            pair_id = raw
        elif key == "Addr":
            addr = bytes.fromhex(raw)
        else:
            ints[key] = int(raw, 16)
    return PanDescriptor(
        ints["Channel"],
        ints["Channel Page"],
        ints["Pan ID"],
        addr,
        ints["LQI"],
        ints.get("Side"),
        pair_id,
    )


def decode_line(
    line: bytes,
    dialect: str | Dialect = "bp35a1",
    *,
    payload_mode: PayloadMode = PayloadMode.HEX,
    rssi: bool = False,
) -> Message:
    """Strictly decode one dongle line (no line end); raise DecodeError if it is malformed.

    A binary-mode ERXUDP line is its header, a space and the raw DATA.
    EPANDESC blocks span several lines: feed them to :class:`Parser`.
    """
    d = get_dialect(dialect)
    text = line.decode("latin-1")
    if not text:
        raise DecodeError(LAYER, 0, "empty line")
    if payload_mode == PayloadMode.BINARY and text.startswith("ERXUDP "):
        tokens = d.erxudp_tokens(rssi)
        parts = text.split(" ", len(tokens) + 2)
        if len(parts) != len(tokens) + 3:
            raise DecodeError(LAYER, len(text), "ERXUDP: header ends early")
        prefix = " ".join(parts[:-2])
        header = udp_header(prefix, tokens)
        at = len(prefix) + 1
        size = parts[-2]
        if len(size) != 4 or not HEX_RE.match(size) or int(size, 16) != len(parts[-1]):
            raise DecodeError(LAYER, at, f"ERXUDP DATALEN {size[:8]!r} does not match the data")
        return ERxUdp(header, parts[-1].encode("latin-1"))
    bad = min((i for i in (text.find("\r"), text.find("\n")) if i >= 0), default=-1)
    if bad >= 0:
        raise DecodeError(LAYER, bad, "CR or LF inside a line")
    result = decode_text(text, d, rssi)
    if result is PANDESC_START:
        raise DecodeError(LAYER, 0, "EPANDESC starts a multi-line block; feed it to Parser")
    return result  # type: ignore[return-value]

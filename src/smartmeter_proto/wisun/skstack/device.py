"""SKSTACK IP device side (sans-IO): what a dongle prints, and its command-line parser.

The formatters produce the exact bytes of a dongle of the given dialect; the
emulator in ``sim/dongle.py`` answers with them. :class:`CommandParser` frames
the host's commands: lines end CR, LF or CRLF, and SKSENDTO's DATALEN raw
bytes follow its header with no line end. Formats: ROHM "BP35A1 command
reference manual" sections 3-4 as cited by smdn/Smdn.Net.SkStackIP, and the
captures named in specs/skstack/*.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ...errors import DecodeError, EncodeError
from .dialects import Dialect, PayloadMode, get_dialect
from .messages import (
    CRLF,
    HEX_RE,
    LAYER,
    EAppVer,
    Echo,
    EInfo,
    ERxUdp,
    Event,
    Ever,
    Fail,
    Garbled,
    LinkLocalAddress,
    Message,
    Ok,
    PanDescriptor,
    SecretLine,
    UnknownLine,
    mask_secrets,
)

__all__ = [
    "Command",
    "CommandParser",
    "encode_message",
    "format_echo",
    "format_einfo",
    "format_erxudp",
    "format_event",
    "format_ever",
    "format_fail",
    "format_ll64",
    "format_ok",
    "format_option_ok",
    "format_pandesc",
    "parse_command",
]

_LINE_END: Final = re.compile(r"[\r\n]")
_GARBLED_KEEP: Final = 256


def _ascii(text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise EncodeError("SKSTACK output is ASCII") from None


# --------------------------------------------------------------------------- formatters
def format_ok(value: str | None = None, *, terminator: bytes = CRLF) -> bytes:
    """``OK`` or ``OK <value>``."""
    return b"OK" + (b"" if value is None else b" " + _ascii(value)) + terminator


def format_option_ok(value: str | None, dialect: str | Dialect) -> bytes:
    """The answer to ROPT/WOPT/RUART: ``OK [value]`` ending with the dialect's CR only."""
    return format_ok(value, terminator=get_dialect(dialect).option_reply_terminator)


def format_fail(code: int) -> bytes:
    """``FAIL ERxx`` with a two-digit decimal error number."""
    if not 0 <= code <= 99:
        raise EncodeError(f"FAIL code {code} is not two digits")
    return b"FAIL ER%02d\r\n" % code


def format_echo(line: str) -> bytes:
    """The echo-back of a command line (a :class:`SecretLine` when it holds a secret)."""
    raw = line.encode("latin-1") + CRLF
    return SecretLine(raw) if mask_secrets(line) != line else raw


def format_ever(version: str) -> bytes:
    """``EVER <version>``, the answer to SKVER."""
    return b"EVER " + _ascii(version) + CRLF


def format_ll64(ipv6: str) -> bytes:
    """The answer to SKLL64: the bare IPv6 address."""
    return _ascii(ipv6) + CRLF


def format_einfo(info: EInfo, dialect: str | Dialect) -> bytes:
    """``EINFO <IPADDR> <ADDR64> <CHANNEL> <PANID> <ADDR16|SIDE>`` per dialect."""
    d = get_dialect(dialect)
    last = info.side if d.einfo_fields[4] == "side" else info.short_addr
    if last is None:
        raise EncodeError(f"EINFO on {d.name} needs its {d.einfo_fields[4]}")
    last_text = f"{last:X}" if d.einfo_fields[4] == "side" else f"{last:04X}"
    return (
        _ascii(
            f"EINFO {info.ipv6} {info.mac.hex().upper()} {info.channel:02X} {info.pan_id:04X} "
            f"{last_text}"
        )
        + CRLF
    )


def format_event(event: Event, dialect: str | Dialect) -> bytes:
    """``EVENT <NUM> [<SENDER>] [<SIDE>] [<PARAM>...]`` per dialect."""
    d = get_dialect(dialect)
    parts = [f"EVENT {event.code:02X}"]
    if event.sender is not None:
        parts.append(event.sender)
        if d.event_side:
            if event.side is None:
                raise EncodeError(f"EVENT on {d.name} needs a side")
            parts.append(f"{event.side:X}")
    parts.extend(f"{p:02X}" for p in event.params)
    return _ascii(" ".join(parts)) + CRLF


def format_pandesc(pan: PanDescriptor, dialect: str | Dialect) -> bytes:
    """The ``EPANDESC`` block (it follows EVENT 20), keys and order per dialect."""
    d = get_dialect(dialect)
    values: dict[str, str | None] = {
        "Channel": f"{pan.channel:02X}",
        "Channel Page": f"{pan.channel_page:02X}",
        "Pan ID": f"{pan.pan_id:04X}",
        "Addr": pan.addr.hex().upper(),
        "LQI": f"{pan.lqi:02X}",
        "Side": None if pan.side is None else f"{pan.side:X}",
        "PairID": pan.pair_id,
    }
    lines = ["EPANDESC"]
    for key in d.epandesc_keys:
        value = values[key]
        if value is None:
            if key in d.epandesc_optional:
                continue
            raise EncodeError(f"EPANDESC on {d.name} needs {key}")
        lines.append(f"  {key}:{value}")
    return _ascii("\r\n".join(lines)) + CRLF


def format_erxudp(
    msg: ERxUdp,
    dialect: str | Dialect,
    *,
    payload_mode: PayloadMode = PayloadMode.HEX,
    rssi: bool = False,
) -> bytes:
    """``ERXUDP ...`` with the data in hex or raw, tokens per dialect and SA2 (``rssi``)."""
    d = get_dialect(dialect)
    h = msg.header
    if len(msg.payload) > 0xFFFF:
        raise EncodeError("ERXUDP data longer than DATALEN can say")
    parts = ["ERXUDP"]
    for name in d.erxudp_tokens(rssi):
        if name == "sender":
            parts.append(h.src)
        elif name == "dest":
            parts.append(h.dst)
        elif name in ("rport", "lport"):
            parts.append(f"{h.rport if name == 'rport' else h.lport:04X}")
        elif name == "senderlla":
            parts.append(h.src_mac.hex().upper())
        elif name == "rssi":
            if msg.rssi is None:
                raise EncodeError("ERXUDP with SA2 on needs an RSSI value")
            parts.append(f"{msg.rssi:02X}" if msg.rssi >= 0 else str(msg.rssi))
        elif name == "secured":
            parts.append("1" if h.secured else "0")
        else:
            if h.side is None:
                raise EncodeError(f"ERXUDP on {d.name} needs a side")
            parts.append(f"{h.side:X}")
    parts.append(f"{len(msg.payload):04X}")
    head = _ascii(" ".join(parts)) + b" "
    if PayloadMode(payload_mode) == PayloadMode.HEX:
        return head + msg.payload.hex().upper().encode("ascii") + CRLF
    return head + msg.payload + CRLF


def encode_message(
    msg: Message,
    dialect: str | Dialect,
    *,
    payload_mode: PayloadMode = PayloadMode.HEX,
    rssi: bool = False,
) -> bytes:
    """The bytes a dongle of ``dialect`` prints for ``msg`` (the inverse of Parser)."""
    if isinstance(msg, Ok):
        return format_ok(msg.value)
    if isinstance(msg, Fail):
        return format_fail(msg.code)
    if isinstance(msg, Echo):
        return format_echo(msg.line)
    if isinstance(msg, (Ever, EAppVer)):
        tag = b"EVER " if isinstance(msg, Ever) else b"EAPPVER "
        return tag + _ascii(msg.version) + CRLF
    if isinstance(msg, EInfo):
        return format_einfo(msg, dialect)
    if isinstance(msg, LinkLocalAddress):
        return format_ll64(msg.ipv6)
    if isinstance(msg, PanDescriptor):
        return format_pandesc(msg, dialect)
    if isinstance(msg, ERxUdp):
        return format_erxudp(msg, dialect, payload_mode=payload_mode, rssi=rssi)
    if isinstance(msg, Event):
        return format_event(msg, dialect)
    if isinstance(msg, UnknownLine):
        return msg.line + CRLF
    raise EncodeError("a Garbled event has no wire form")


# --------------------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True, repr=False)
class Command:
    """A host command as the dongle reads it; SKSENDTO's raw data is ``payload``."""

    name: str
    args: tuple[str, ...] = ()
    payload: bytes | None = None

    @property
    def echo(self) -> bytes:
        """What the dongle echoes: the command text (SKSENDTO: header up to DATA), CRLF."""
        text = " ".join((self.name, *self.args)) + (" " if self.payload is not None else "")
        return format_echo(text)

    def __repr__(self) -> str:
        shown = mask_secrets(" ".join((self.name, *self.args)))
        extra = "" if self.payload is None else f", payload=<{len(self.payload)} bytes>"
        return f"Command({shown!r}{extra})"


def _sksendto_argc(dialect: Dialect) -> int:
    """HANDLE IPADDR PORT SEC [SIDE] DATALEN (BP35A1 reference 3.7; BP35C2 adds SIDE)."""
    return 6 if dialect.sksendto_side else 5


def parse_command(line: bytes, dialect: str | Dialect = "bp35a1") -> Command:
    """One command line without its line end; SKSENDTO includes its raw data."""
    d = get_dialect(dialect)
    text = line.decode("latin-1")
    if text.startswith("SKSENDTO "):
        argc = _sksendto_argc(d)
        parts = text.split(" ", argc + 1)
        if len(parts) == argc + 2:
            size = parts[argc]
            if len(size) != 4 or not HEX_RE.match(size):
                raise DecodeError(LAYER, len(" ".join(parts[:argc])) + 1, "SKSENDTO DATALEN")
            if int(size, 16) != len(parts[-1]):
                raise DecodeError(LAYER, len(text), "SKSENDTO data does not match DATALEN")
            return Command("SKSENDTO", tuple(parts[1:-1]), parts[-1].encode("latin-1"))
    bad = _LINE_END.search(text)
    if bad is not None:
        raise DecodeError(LAYER, bad.start(), "CR or LF inside a command line")
    words = text.split()
    if not words:
        raise DecodeError(LAYER, 0, "empty command line")
    return Command(words[0], tuple(words[1:]))


class CommandParser:
    """Host bytes, in any chunking, to :class:`Command` (device side, sans-IO).

    Lines end at CR or LF (empty lines are skipped); a line longer than
    ``max_line_length`` is dropped with a :class:`Garbled`. SKSENDTO reads
    DATALEN raw bytes after its header; data over ``max_payload`` is skipped.
    """

    def __init__(
        self,
        dialect: str | Dialect = "bp35a1",
        *,
        max_line_length: int = 1024,
        max_payload: int = 0xFFFF,
    ) -> None:
        self.dialect = get_dialect(dialect)
        self._argc = _sksendto_argc(self.dialect)
        self._max_line = max_line_length
        self._max_payload = max_payload
        self._tail = ""
        self._skip = 0
        self._discarding = False

    def feed(self, data: bytes) -> list[Command | Garbled]:
        """Parse ``data``; return the commands completed by it, in order."""
        out: list[Command | Garbled] = []
        text = self._tail + data.decode("latin-1")
        self._tail = ""
        pos = min(self._skip, len(text))
        self._skip -= pos
        if self._discarding:
            found = _LINE_END.search(text, pos)
            if found is None:
                return out
            self._discarding = False
            pos = found.start()
        while pos < len(text):
            if text.startswith("SKSENDTO ", pos):
                pos = self._sksendto(text, pos, out)
                if pos < 0:
                    break
                continue
            found = _LINE_END.search(text, pos)
            stop = len(text) if found is None else found.start()
            if stop - pos > self._max_line:
                out.append(self._garbled(text[pos : pos + _GARBLED_KEEP], "command line too long"))
                if found is None:
                    self._discarding = True
                    break
            elif found is None:
                self._tail = text[pos:]
                break
            elif stop > pos:
                out.append(self._command(text[pos:stop]))
            pos = stop + 1
        return out

    def _command(self, line: str) -> Command | Garbled:
        try:
            return parse_command(line.encode("latin-1"), self.dialect)
        except DecodeError as exc:
            return self._garbled(line, exc.reason)

    def _garbled(self, text: str, reason: str) -> Garbled:
        return Garbled(text[:_GARBLED_KEEP].encode("latin-1"), reason)

    def _sksendto(self, text: str, pos: int, out: list[Command | Garbled]) -> int:
        """Frame SKSENDTO at ``pos``; return where to go on, or -1 to wait for more."""
        p = pos + len("SKSENDTO ")
        spaces: list[int] = []
        while len(spaces) < self._argc:
            sp = text.find(" ", p, pos + self._max_line)
            if sp < 0:
                break
            spaces.append(sp)
            p = sp + 1
        end_of_line = _LINE_END.search(text, pos, p if len(spaces) == self._argc else len(text))
        if end_of_line is not None or len(spaces) < self._argc:
            if end_of_line is None and len(text) - pos <= self._max_line:
                self._tail = text[pos:]
                return -1
            stop = len(text) if end_of_line is None else end_of_line.start()
            if stop - pos > self._max_line:  # header never ends: drop to the next line end
                out.append(
                    self._garbled(text[pos : pos + _GARBLED_KEEP], "SKSENDTO header too long")
                )
                self._discarding = end_of_line is None
                return len(text) if end_of_line is None else stop + 1
            # Too few arguments before the line end: a plain (faulty) command line.
            out.append(self._command(text[pos:stop]))
            return stop + 1
        size = text[spaces[-2] + 1 : spaces[-1]]
        if len(size) != 4 or not HEX_RE.match(size):
            out.append(self._garbled(text[pos:p], "SKSENDTO DATALEN: expected 4 hex digits"))
            found = _LINE_END.search(text, p)
            self._discarding = found is None
            return len(text) if found is None else found.start()
        n = int(size, 16)
        if n > self._max_payload:
            out.append(self._garbled(text[pos:p], f"SKSENDTO DATALEN {n} over the limit"))
            self._skip = max(0, p + n - len(text))
            return min(p + n, len(text))
        if len(text) < p + n:
            self._tail = text[pos:]
            return -1
        header = text[pos : spaces[-1]].split(" ")
        out.append(Command("SKSENDTO", tuple(header[1:]), text[p : p + n].encode("latin-1")))
        return p + n

"""SKSTACK IP host side (sans-IO): command builders and the stream :class:`Parser`.

SKSTACK IP is the line-oriented ASCII command set of the Wi-SUN B-route
dongles (ROHM BP35A1/BP35C0/BP35C2, Tessera RL7023). Commands end CRLF except
SKSENDTO, whose raw data follows its header with no line end; the builders are
in :mod:`~smartmeter_proto.wisun.skstack.commands` (re-exported here). The dongle's
output decodes to the messages of :mod:`.messages` (re-exported here);
model differences come from :mod:`~smartmeter_proto.wisun.skstack.dialects`. Sources: ROHM "BP35A1
command reference manual" sections 3-4 as cited by smdn/Smdn.Net.SkStackIP,
the captures named in specs/skstack/*.yaml.
"""

from __future__ import annotations

from typing import Final

from ...errors import DecodeError
from .dialects import Dialect, PayloadMode, get_dialect
from .messages import (
    HEX_RE,
    PANDESC_START,
    Echo,
    ERxUdp,
    Fail,
    Garbled,
    Message,
    Ok,
    RxHeader,
    decode_pandesc,
    decode_text,
    hex_payload,
    make_erxudp,
    new_object,
    udp_header,
)

__all__ = ["Parser"]

_GARBLED_KEEP: Final = 256  # characters of an offending line kept in a Garbled event
#: "ERXUDP " and the tokens before binary DATA: 7 + 2 x 40 + 4 x 5 + 17 + 3 x 4, rounded up.
_MAX_ERXUDP_HEADER: Final = 160
_CACHE_LIMIT: Final = 64
#: DATALEN tokens as printed ("0000".."07FF") -> value: one dict probe on the hot path instead
#: of a format check and int(); covers any UDP payload of a 1280-byte IPv6 MTU.
_SIZES: Final = {f"{n:04X}": n for n in range(0x800)}
_SET_HEADER = ERxUdp.__dict__["header"].__set__
_SET_PAYLOAD = ERxUdp.__dict__["payload"].__set__


# --------------------------------------------------------------------------- stream parser
def _register(name: str) -> str:
    """S02 and S2 name the same register."""
    upper = name.upper()
    return "S" + (upper[1:].lstrip("0") or "0") if upper.startswith("S") else upper


class Parser:
    """Dongle output bytes, in any chunking, to messages (sans-IO).

    A line ends at CR and one LF right after a CR is dropped (ROPT/WOPT answers
    end CR only); empty lines are skipped. Binary-mode ERXUDP data is read by
    its DATALEN, so it may hold CR/LF. Malformed known lines become
    :class:`Garbled`, unknown ones :class:`UnknownLine`; parsing goes on at the
    next CR. A line longer than ``max_line_length`` and a binary ERXUDP frame
    larger than ``max_buffered`` are dropped with a Garbled event, so at most
    ``max_buffered`` characters are held between calls. Any chunking of the
    same bytes gives the same messages.

    ``payload_mode`` starts at the dialect's factory setting; WOPT is kept in
    flash, so send ROPT first (or set ``payload_mode``) on a dongle of unknown
    history. The parser follows the command it last saw echoed (or was told of with
    :meth:`expect_echo`, needed when echo-back is off): an OK to
    ``WOPT``/``ROPT`` sets the ERXUDP data mode, one to ``SKSREG SA2`` the
    RSSI token, as the dongle itself does.
    """

    def __init__(
        self,
        dialect: str | Dialect = "bp35a1",
        *,
        payload_mode: PayloadMode | None = None,
        rssi: bool = False,
        max_line_length: int = 4096,
        max_buffered: int = 8192,
    ) -> None:
        if max_line_length < 64 or max_buffered < max_line_length:
            raise ValueError("need max_line_length >= 64 and max_buffered >= max_line_length")
        self.dialect = get_dialect(dialect)
        mode = self.dialect.payload_mode_default if payload_mode is None else payload_mode
        self._binary = PayloadMode(mode) == PayloadMode.BINARY
        self._rssi = False
        self._tokens = self.dialect.erxudp_tokens(False)
        self._cache: dict[str, RxHeader] = {}
        self.rssi = rssi
        self._max_line = max_line_length
        self._max_buffered = max_buffered
        self._tail = ""
        self._skip = 0
        self._discarding = False
        self._block: dict[str, str] | None = None
        self._block_lines: list[str] = []
        self._pending: tuple[str, ...] | None = None

    @property
    def payload_mode(self) -> PayloadMode:
        """How ERXUDP data is printed now (WOPT 00 binary / 01 hex)."""
        return PayloadMode.BINARY if self._binary else PayloadMode.HEX

    @payload_mode.setter
    def payload_mode(self, mode: PayloadMode) -> None:
        self._binary = PayloadMode(mode) == PayloadMode.BINARY

    @property
    def rssi(self) -> bool:
        """Whether ERXUDP carries the RSSI token (register SA2 on BP35C0/C2)."""
        return self._rssi

    @rssi.setter
    def rssi(self, on: bool) -> None:
        self._rssi = bool(on) and self.dialect.rssi_register is not None
        self._tokens = self.dialect.erxudp_tokens(self._rssi)
        self._cache.clear()

    def expect_echo(self, command: bytes | str) -> None:
        """Note the command just sent: its OK may switch the data mode or the RSSI token."""
        text = command.decode("latin-1") if isinstance(command, bytes) else command
        parts = text.split("\r", 1)[0].split()
        # Keep only what mode tracking needs; never hold a secret argument.
        keep = 3 if parts[:1] in (["WOPT"], ["SKSREG"]) else 1
        self._pending = tuple(parts[:keep])

    def feed(self, data: bytes) -> list[Message]:
        """Parse ``data``; return the messages completed by it, in order."""
        out: list[Message] = []
        text = data.decode("latin-1")
        if self._tail:
            text = self._tail + text
            self._tail = ""
        end = len(text)
        pos = 0
        if self._skip:
            pos = min(self._skip, end)
            self._skip -= pos
        if self._discarding and pos < end:
            cr = text.find("\r", pos)
            if cr < 0:
                return out
            self._discarding = False
            pos = cr + 1
        while pos < end:
            scan = self._scan_binary if self._binary else self._scan_hex
            pos = scan(text, pos, out)
        return out

    def close(self) -> list[Message]:
        """End of stream: an open EPANDESC block and any partial line are reported."""
        out: list[Message] = []
        if self._block is not None:
            out.append(self._finish_block())
        tail, self._tail = _unlf(self._tail), ""
        if tail:
            out.append(_garbled(tail, "stream ended inside a line"))
        return out

    # ------------------------------------------------------------------ scanners
    def _scan_hex(self, text: str, pos: int, out: list[Message]) -> int:
        """Lines of ``text[pos:]`` while ERXUDP data is hex; returns where it stopped."""
        lines = (text[pos:] if pos else text).split("\r")
        tail = lines.pop()
        append = out.append
        cache_get = self._cache.get
        sizes_get = _SIZES.get
        fromhex = bytes.fromhex
        new = new_object
        set_header = _SET_HEADER
        set_payload = _SET_PAYLOAD
        max_line = self._max_line
        it = iter(lines)
        for line in it:
            # Hot path: an ERXUDP whose header was seen before (cached, so known to be one)
            # with hex data; anything else, or any doubt, takes the checked path.
            parts = line.rsplit(" ", 2)
            if len(parts) == 3:
                header = cache_get(parts[0])
                if header is not None and self._block is None and len(line) <= max_line:
                    n = sizes_get(parts[1])
                    if n is not None:
                        try:
                            payload = fromhex(parts[2])
                        except ValueError:
                            n = None
                        if n is not None and len(payload) == n and len(parts[2]) == n + n:
                            msg = new(ERxUdp)
                            set_header(msg, header)
                            set_payload(msg, payload)
                            append(msg)
                            continue
            if line and line != "\n":
                self._line(line, out)
                if self._binary:  # an OK to WOPT 00 / ROPT: the rest is framed by position
                    return len(text) - len("\r".join([*it, tail]))
        if len(tail) > max_line:
            self._overflow(tail, out)
            self._discarding = True
        else:
            self._tail = tail
        return len(text)

    def _scan_binary(self, text: str, pos: int, out: list[Message]) -> int:
        """Lines of ``text[pos:]`` while ERXUDP data is raw; returns where it stopped."""
        end = len(text)
        while pos < end:
            start = pos + 1 if text[pos] == "\n" else pos
            if text.startswith("ERXUDP ", start):
                after = self._binary_erxudp(text, start, out)
                if after < 0:
                    self._tail = text[pos:]
                    return end
                pos = after
                continue
            cr = text.find("\r", pos)
            if cr < 0:
                if end - pos > self._max_line:
                    self._overflow(text[pos : pos + _GARBLED_KEEP + 1], out)
                    self._discarding = True
                else:
                    self._tail = text[pos:]
                return end
            line = text[pos:cr]
            pos = cr + 1
            if line and line != "\n":
                self._line(line, out)
                if not self._binary:
                    return pos
        return end

    # ------------------------------------------------------------------ internals
    def _resync(self, text: str, start: int) -> int:
        """Skip to the next line start at or after ``start`` (across calls if need be)."""
        cr = text.find("\r", start)
        if cr < 0:
            self._discarding = True
            return len(text)
        return cr + 1

    def _overflow(self, line: str, out: list[Message]) -> None:
        # Keep the same prefix whether the line ended in this chunk or overflowed the tail.
        head = _unlf(line[: min(_GARBLED_KEEP, self._max_line + 1)])
        out.append(_garbled(head, f"line longer than {self._max_line} bytes"))

    def _line(self, raw: str, out: list[Message]) -> None:
        if len(raw) > self._max_line:
            self._overflow(raw, out)
            return
        line = _unlf(raw)
        if self._block is not None:
            if line[:2] == "  ":
                self._block_line(line, out)
                return
            out.append(self._finish_block())
        if line[:7] == "ERXUDP ":
            out.append(
                self._hex_erxudp(line)
                if not self._binary
                else _garbled(line, "ERXUDP header broken by a line end")
            )
            return
        try:
            msg = decode_text(line, self.dialect, self._rssi)
        except DecodeError as exc:
            out.append(_garbled(line, exc.reason))
            return
        if msg is PANDESC_START:
            self._block = {}
            self._block_lines = [line]
            return
        out.append(msg)  # type: ignore[arg-type]
        if isinstance(msg, Echo):
            self.expect_echo(msg.line)
        elif self._pending is not None and isinstance(msg, (Ok, Fail)):
            self._track(msg)

    def _track(self, msg: Ok | Fail) -> None:
        pending, self._pending = self._pending or (), None
        if isinstance(msg, Fail) or not pending:
            return
        name, args = pending[0], pending[1:]
        value = args[0] if name == "WOPT" and args else msg.value if name == "ROPT" else None
        if value is not None and HEX_RE.match(value) and int(value, 16) in (0, 1):
            self._binary = int(value, 16) == PayloadMode.BINARY
        register = self.dialect.rssi_register
        if name == "SKSREG" and len(args) == 2 and register is not None:
            if _register(args[0]) == _register(register):
                self.rssi = args[1] == "1"
        elif name == "SKRESET":
            self.rssi = False

    def _block_line(self, line: str, out: list[Message]) -> None:
        assert self._block is not None
        key, sep, value = line[2:].partition(":")
        self._block_lines.append(line)
        keys = self.dialect.epandesc_keys
        if not sep or len(self._block_lines) > len(keys) + 1:
            out.append(self._finish_block("EPANDESC: unexpected line " + line[:40]))
            return
        self._block[key.strip()] = value.strip()
        if key.strip() == keys[-1]:
            out.append(self._finish_block())

    def _finish_block(self, error: str | None = None) -> Message:
        fields, lines = self._block or {}, self._block_lines
        self._block, self._block_lines = None, []
        if error is None:
            try:
                return decode_pandesc(fields, self.dialect)
            except DecodeError as exc:
                error = exc.reason
        return _garbled("\r\n".join(lines), error)

    def _header(self, prefix: str) -> RxHeader:
        header = self._cache.get(prefix)
        if header is None:
            header = udp_header(prefix, self._tokens)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            # Lines reach the hot path with the LF of the previous CRLF still on.
            self._cache[prefix] = self._cache["\n" + prefix] = header
        return header

    def _hex_erxudp(self, line: str) -> Message:
        head, _, data = line.rpartition(" ")
        prefix, _, size = head.rpartition(" ")
        try:
            return hex_payload(self._header(prefix), size, data, len(prefix) + 1)
        except DecodeError as exc:
            return _garbled(line, exc.reason)

    def _binary_erxudp(self, text: str, pos: int, out: list[Message]) -> int:
        """Frame one binary-mode ERXUDP at ``pos``; return where to go on, -1 to wait."""
        if self._block is not None:
            out.append(self._finish_block())
        end = len(text)
        limit = pos + _MAX_ERXUDP_HEADER
        spaces: list[int] = []
        p = pos + 7
        for _ in range(len(self._tokens) + 1):
            sp = text.find(" ", p, limit)
            if sp < 0:
                break
            spaces.append(sp)
            p = sp + 1
        cr = text.find("\r", pos, p if len(spaces) == len(self._tokens) + 1 else limit)
        if cr >= 0:  # the line ended before its data: not a binary frame
            out.append(_garbled(text[pos:cr], "ERXUDP header ends before DATALEN"))
            return cr + 1
        if len(spaces) <= len(self._tokens):
            if end < limit:
                return -1
            out.append(_garbled(text[pos:limit], "ERXUDP header too long"))
            return self._resync(text, limit)
        data_at = p
        size = text[spaces[-2] + 1 : spaces[-1]]
        if len(size) != 4 or not HEX_RE.match(size):
            out.append(_garbled(text[pos:data_at], "ERXUDP DATALEN: expected 4 hex digits"))
            return self._resync(text, data_at)
        n = int(size, 16)
        if data_at - pos + n + 2 > self._max_buffered:
            out.append(_garbled(text[pos:data_at], f"ERXUDP DATALEN {n} over the buffer limit"))
            self._skip = max(0, data_at + n - end)
            return min(data_at + n, end)
        if end <= data_at + n:
            return -1
        frame = text[pos : data_at + n]
        if text[data_at + n] != "\r":
            out.append(_garbled(frame, f"ERXUDP: no CR after {n} data bytes"))
            return data_at + n
        try:
            header = self._header(text[pos : spaces[-2]])
        except DecodeError as exc:
            out.append(_garbled(frame, exc.reason))
        else:
            out.append(make_erxudp(header, text[data_at : data_at + n].encode("latin-1")))
        return data_at + n + 1


def _garbled(text: str, reason: str) -> Garbled:
    return Garbled(text[:_GARBLED_KEEP].encode("latin-1"), reason)


def _unlf(line: str) -> str:
    """The line without the LF of the CRLF before it."""
    return line[1:] if line[:1] == "\n" else line

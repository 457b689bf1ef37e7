"""A bounds-checked read cursor and a growable writer shared by every codec.

Every decoder reads through :class:`Cursor`, so a short input always becomes a
:class:`~smartmeter_proto.errors.DecodeError` that names the layer and offset.
BER definite lengths (X.690 §8.1.3, as A-XDR, xDLMS and ACSE use them) have one reader,
:func:`read_ber_length`, whose strictness is a :class:`LengthPolicy` each layer names.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from .errors import DecodeError, EncodeError

__all__ = [
    "ACSE_LENGTH",
    "AXDR_LENGTH",
    "MINIMAL_LENGTH",
    "Cursor",
    "LengthPolicy",
    "Writer",
    "read_ber_length",
]


@dataclass(frozen=True, slots=True)
class LengthPolicy:
    """How strictly a BER definite length is read.

    ``max_octets``: long-form length octets accepted (0x81..0x80+max_octets);
    ``minimal``: refuse a length not in its shortest form (so encode(decode(b)) == b);
    ``within_input``: refuse a length larger than the input left after it.
    """

    max_octets: int = 4
    minimal: bool = False
    within_input: bool = False


#: A-XDR data and the ciphered-APDU header (IEC 62056-6-2: up to 4 length octets; a
#: non-minimal long form is read, encoding is always minimal).
AXDR_LENGTH: Final = LengthPolicy()
#: xDLMS counts and lengths that must round-trip byte for byte.
MINIMAL_LENGTH: Final = LengthPolicy(minimal=True)
#: ACSE (BER, X.690 DER-like as the Green Book encodes it): at most 2 octets, minimal, and
#: never beyond the APDU.
ACSE_LENGTH: Final = LengthPolicy(max_octets=2, minimal=True, within_input=True)


def read_ber_length(
    buf: bytes,
    pos: int,
    end: int,
    layer: str,
    what: str,
    policy: LengthPolicy = AXDR_LENGTH,
) -> tuple[int, int]:
    """(length, next position) of the BER definite length at ``pos`` under ``policy``."""
    if pos >= end:
        raise DecodeError(layer, pos, f"{what}: expected a length, input ended")
    first = buf[pos]
    if first < 0x80:
        n, after = first, pos + 1
    else:
        k = first - 0x80
        if not 1 <= k <= policy.max_octets:
            raise DecodeError(
                layer,
                pos,
                f"{what}: length octet 0x{first:02X} is not 0x00..0x7F"
                f" or 0x81..0x{0x80 + policy.max_octets:02X}",
            )
        after = pos + 1 + k
        if after > end:
            raise DecodeError(
                layer, pos, f"{what}: long-form length needs {k} octets, {end - pos - 1} left"
            )
        n = int.from_bytes(buf[pos + 1 : after], "big")
        if policy.minimal and (n < 0x80 or buf[pos + 1] == 0):
            raise DecodeError(layer, pos, f"{what}: length {n} not in its shortest form")
    if policy.within_input and n > end - after:
        raise DecodeError(layer, pos, f"{what}: length {n} exceeds {end - after} remaining bytes")
    return n, after


_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class Cursor:
    """Reads big-endian fields from ``data``; ``layer`` labels every error it raises."""

    __slots__ = ("_data", "_end", "layer", "offset")

    def __init__(self, data: bytes | bytearray | memoryview, layer: str, offset: int = 0) -> None:
        self._data = bytes(data)
        self._end = len(self._data)
        self.layer = layer
        self.offset = offset

    @property
    def remaining(self) -> int:
        return self._end - self.offset

    def at_end(self) -> bool:
        return self.offset >= self._end

    def error(self, reason: str, offset: int | None = None) -> DecodeError:
        """A :class:`DecodeError` for this layer at ``offset`` (default: the cursor)."""
        return DecodeError(self.layer, self.offset if offset is None else offset, reason)

    def pull_ber_length(
        self, what: str, policy: LengthPolicy = AXDR_LENGTH, *, layer: str | None = None
    ) -> int:
        """Read a BER definite length under ``policy`` and advance past it.

        Errors name ``layer`` (default: the cursor's).
        """
        n, self.offset = read_ber_length(
            self._data, self.offset, self._end, layer or self.layer, what, policy
        )
        return n

    def _need(self, n: int, what: str) -> int:
        start = self.offset
        if n < 0 or start + n > self._end:
            raise DecodeError(
                self.layer, start, f"{what}: need {n} bytes, {self._end - start} left"
            )
        self.offset = start + n
        return start

    def pull_uint8(self, what: str = "uint8") -> int:
        start = self._need(1, what)
        return self._data[start]

    def pull_uint16(self, what: str = "uint16") -> int:
        start = self._need(2, what)
        return int(_U16.unpack_from(self._data, start)[0])

    def pull_uint32(self, what: str = "uint32") -> int:
        start = self._need(4, what)
        return int(_U32.unpack_from(self._data, start)[0])

    def pull_bytes(self, n: int, what: str = "bytes") -> bytes:
        start = self._need(n, what)
        return self._data[start : start + n]

    def pull_rest(self) -> bytes:
        start = self.offset
        self.offset = self._end
        return self._data[start:]

    def expect_end(self, what: str) -> None:
        if self.offset != self._end:
            raise DecodeError(
                self.layer, self.offset, f"{self._end - self.offset} trailing bytes after {what}"
            )


class Writer:
    """Appends big-endian fields; :meth:`length_prefix` back-fills a length field."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def push_uint8(self, value: int) -> None:
        if not 0 <= value <= 0xFF:
            raise EncodeError(f"uint8 out of range: {value}")
        self._buf.append(value)

    def push_uint16(self, value: int) -> None:
        if not 0 <= value <= 0xFFFF:
            raise EncodeError(f"uint16 out of range: {value}")
        self._buf += _U16.pack(value)

    def push_uint32(self, value: int) -> None:
        if not 0 <= value <= 0xFFFFFFFF:
            raise EncodeError(f"uint32 out of range: {value}")
        self._buf += _U32.pack(value)

    def push_bytes(self, value: bytes) -> None:
        self._buf += value

    @contextmanager
    def length_prefix(self, size: int, *, extra: int = 0) -> Iterator[None]:
        """Reserve a ``size``-byte big-endian length, fill it with the body length + ``extra``."""
        at = len(self._buf)
        self._buf += bytes(size)
        yield
        length = len(self._buf) - at - size + extra
        if length >= 1 << (8 * size):
            raise EncodeError(f"length {length} does not fit in {size} bytes")
        self._buf[at : at + size] = length.to_bytes(size, "big")

    def __len__(self) -> int:
        return len(self._buf)

    def getvalue(self) -> bytes:
        return bytes(self._buf)

"""OBIS codes: the six-byte logical names A.B.C.D.E.F of COSEM objects (IEC 62056-6-1).

Accepted text forms: the reduced-ID form ``"1-0:1.8.0.255"`` (also ``"1-0:1.8.0*255"``)
and the dotted form ``"1.0.1.8.0.255"``. A five-group text form leaves F at 255.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["MANUFACTURER_SPECIFIC_C", "Obis"]

#: Value group C codes 128..199 are manufacturer specific (Blue Book OBIS tables, as listed
#: in gurux_dlms/OBISCodes.txt "Manufacturer specific" rows).
MANUFACTURER_SPECIFIC_C: Final = range(128, 200)

_GROUP = r"(\d{1,3})"
_REDUCED = re.compile(rf"^{_GROUP}-{_GROUP}:{_GROUP}\.{_GROUP}\.{_GROUP}(?:[.*&]{_GROUP})?$")
_DOTTED = re.compile(rf"^{_GROUP}\.{_GROUP}\.{_GROUP}\.{_GROUP}\.{_GROUP}(?:\.{_GROUP})?$")
_SIZE: Final = 6


@dataclass(frozen=True, slots=True, order=True)
class Obis:
    """One logical name; each group is 0..255."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    def __post_init__(self) -> None:
        for name in ("a", "b", "c", "d", "e", "f"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= 255:
                raise ValueError(f"OBIS group {name.upper()} must be an int 0..255, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> Obis:
        """Parse ``"A-B:C.D.E.F"`` or ``"A.B.C.D.E.F"``; raise ``ValueError`` otherwise."""
        stripped = text.strip()
        match = _REDUCED.match(stripped) or _DOTTED.match(stripped)
        if match is None:
            raise ValueError(f"not an OBIS code: {text!r}")
        groups = [int(g) for g in match.groups() if g is not None]
        if len(groups) == _SIZE - 1:
            groups.append(255)
        return cls(*groups)

    @classmethod
    def from_bytes(cls, data: bytes) -> Obis:
        """From the 6-byte octet-string form used on the wire as ``logical_name``."""
        if len(data) != _SIZE:
            raise ValueError(f"an OBIS code is {_SIZE} bytes, got {len(data)}")
        return cls(*data)

    def __bytes__(self) -> bytes:
        return bytes((self.a, self.b, self.c, self.d, self.e, self.f))

    def __str__(self) -> str:
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}.{self.f}"

    @property
    def dotted(self) -> str:
        """The dotted form ``"A.B.C.D.E.F"``."""
        return f"{self.a}.{self.b}.{self.c}.{self.d}.{self.e}.{self.f}"

    @property
    def manufacturer_specific(self) -> bool:
        """True when a group is manufacturer specific: B or C 128..199, C 240, D/E/F 128..254.

        Per the Blue Book OBIS rules as reflected in gurux_dlms/OBISCodes.txt rows 393-397
        (value group F 128..254 is listed as manufacturer specific there as well).
        """
        return (
            128 <= self.b <= 199
            or self.c in MANUFACTURER_SPECIFIC_C
            or self.c == 240
            or any(128 <= g <= 254 for g in (self.d, self.e, self.f))
        )

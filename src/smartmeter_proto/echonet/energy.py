"""Cumulative-energy arithmetic of the low-voltage smart meter (class 0x0288).

Energy in kWh = count × coefficient (EPC 0xD3) × unit (EPC 0xE1); the counter
has ``effective digits`` (EPC 0xD7) digits and rolls over to 0 at 10^digits
(APPENDIX §3.3.25, 0xD3/0xD7/0xE0/0xE1).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

__all__ = ["UNIT_CODES", "EnergyScale", "unit_code"]

#: EPC 0xE1 unit codes: multiplier in kWh.
UNIT_CODES: Final[dict[int, Decimal]] = {
    0x00: Decimal(1),
    0x01: Decimal("0.1"),
    0x02: Decimal("0.01"),
    0x03: Decimal("0.001"),
    0x04: Decimal("0.0001"),
    0x0A: Decimal(10),
    0x0B: Decimal(100),
    0x0C: Decimal(1000),
    0x0D: Decimal(10000),
}
#: A meter without 0xD3 has coefficient 1; 0xD7 ranges 1..8.
_DEFAULT_COEFFICIENT: Final = 1
_MAX_DIGITS: Final = 8


@dataclass(frozen=True, slots=True)
class EnergyScale:
    """The scale a meter applies to its energy counters (0xD3, 0xE1, 0xD7)."""

    coefficient: int = _DEFAULT_COEFFICIENT
    unit_code: int = 0x01
    effective_digits: int = _MAX_DIGITS

    def __post_init__(self) -> None:
        if self.unit_code not in UNIT_CODES:
            raise ValueError(f"unknown 0xE1 unit code 0x{self.unit_code:02X}")
        if not 1 <= self.effective_digits <= _MAX_DIGITS:
            raise ValueError(f"effective digits must be 1..8, got {self.effective_digits}")
        if self.coefficient < 1:
            raise ValueError(f"coefficient must be positive, got {self.coefficient}")

    @property
    def kwh_per_count(self) -> Decimal:
        return UNIT_CODES[self.unit_code] * self.coefficient

    @property
    def rollover(self) -> int:
        """The count at which the counter wraps to 0."""
        return int(10**self.effective_digits)

    def to_kwh(self, count: int) -> Decimal:
        """A counter reading (0xE0, 0xE3, an element of 0xE2) in kWh, exact."""
        return count * self.kwh_per_count

    def delta_kwh(self, earlier: int, later: int) -> Decimal:
        """Energy between two readings, counting one roll-over if ``later < earlier``."""
        counts = later - earlier
        if counts < 0:
            counts += self.rollover
        return counts * self.kwh_per_count


def unit_code(label: object) -> int:
    """The 0xE1 code of a decoded unit: its code (an int), or its label (``"0.1"``).

    An int is always a code (APPENDIX §3.3.25 0xE1: 0x01 is 0.1 kWh, never the label "1");
    only text or a Decimal is matched against the multipliers.
    """
    if isinstance(label, int) and not isinstance(label, bool):
        if label in UNIT_CODES:
            return label
        raise ValueError(f"unknown 0xE1 unit code 0x{label:02X}")
    if isinstance(label, (str, Decimal)):
        try:
            factor = Decimal(label)
        except ArithmeticError:
            factor = None
        for code, known in UNIT_CODES.items():
            if factor == known:
                return code
    raise ValueError(f"unknown 0xE1 unit {label!r}")

"""Terminal charts for the CLI, in block glyphs or, where the console cannot show them, ASCII."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

__all__ = ["can_draw_blocks", "half_hour_chart"]

#: Eight bar heights and the mark of a half hour not measured yet.
_BLOCK_BARS: Final = " ▁▂▃▄▅▆▇█"
_BLOCK_UNKNOWN: Final = "·"
#: The same in ASCII, for consoles (cp932, ascii) without the block elements.
_ASCII_BARS: Final = " ..-:=+*#"
_ASCII_UNKNOWN: Final = "?"


def can_draw_blocks(encoding: str | None) -> bool:
    """Whether text in ``encoding`` can hold the block glyphs (None: assume not)."""
    if not encoding:
        return False
    try:
        (_BLOCK_BARS + _BLOCK_UNKNOWN).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def half_hour_chart(kwh: list[Decimal | None], *, blocks: bool = True) -> list[str]:
    """A bar chart of 48 half-hour energies with an hour axis (JST, the meter's clock).

    A half hour not measured yet shows as a middle dot; ``blocks=False`` draws ASCII only
    (``?`` for not measured yet).
    """
    bars_set, unknown = (_BLOCK_BARS, _BLOCK_UNKNOWN) if blocks else (_ASCII_BARS, _ASCII_UNKNOWN)
    top_level = len(bars_set) - 1
    known = [v for v in kwh if v is not None]
    top = max(known, default=Decimal(0)) or Decimal(1)
    bars = "".join(
        unknown if v is None else bars_set[max(0, min(top_level, int(v / top * top_level)))]
        for v in kwh
    )
    axis = "".join(f"{h:<6}" for h in range(0, 24, 3))
    return [f"  {bars}", f"  {axis}", f"  peak {top} kWh per half hour"]

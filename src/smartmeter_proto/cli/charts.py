"""Terminal charts for the CLI."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["half_hour_chart"]

_BARS = " ▁▂▃▄▅▆▇█"


def half_hour_chart(kwh: list[Decimal | None]) -> list[str]:
    """A bar chart of 48 half-hour energies (``·`` = not measured yet), with an hour axis."""
    known = [v for v in kwh if v is not None]
    top = max(known, default=Decimal(0)) or Decimal(1)
    bars = "".join("·" if v is None else _BARS[min(8, int(v / top * 8))] for v in kwh)
    axis = "".join(f"{h:<6}" for h in range(0, 24, 3))
    return [f"  {bars}", f"  {axis}", f"  peak {top} kWh per half hour"]

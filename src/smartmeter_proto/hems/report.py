"""The service-level report of a HEMS record, computed from the store alone.

Targets (next-generation smart meter requirements, B-route): 1-minute values
collected 100 % within 60 minutes through the meter's 60-minute store; 30-minute
values confirmed 100 %. The recorded window runs from the first run's start to
the last run's last activity; a slot is owed once the meter has closed it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Final

from .store import RecordStore

__all__ = ["RecordReport", "build_report", "format_report"]

#: A slot is owed this long after its time stamp (a poll and a back-fill had their chance).
_MINUTE_OWED_AFTER_S: Final = 120
_HALF_HOUR_OWED_AFTER_S: Final = 300
_WITHIN_S: Final = 3600


@dataclass(frozen=True, slots=True)
class RecordReport:
    window_start: float | None
    window_end: float | None
    minutes_expected: int
    minutes_collected: int
    minutes_within_60_min: int
    half_hours_expected: int
    half_hours_collected: int
    unrecoverable: dict[str, int]
    disagreements: int
    runs: int
    joins: int
    reopens: int
    instantaneous_readings: int
    problems: dict[str, int]

    @staticmethod
    def _percent(part: int, whole: int) -> float:
        return 100.0 if whole == 0 else round(100.0 * part / whole, 3)

    @property
    def minutes_percent(self) -> float:
        return self._percent(self.minutes_collected, self.minutes_expected)

    @property
    def minutes_within_60_min_percent(self) -> float:
        return self._percent(self.minutes_within_60_min, self.minutes_expected)

    @property
    def half_hours_percent(self) -> float:
        return self._percent(self.half_hours_collected, self.half_hours_expected)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["minutes_percent"] = self.minutes_percent
        out["minutes_within_60_min_percent"] = self.minutes_within_60_min_percent
        out["half_hours_percent"] = self.half_hours_percent
        return out


def _owed(start: float, end: float, step: int, after: int) -> range:
    first = math.floor(start / step) * step + step
    last = math.floor((end - after) / step) * step
    return range(first, last + 1, step)


def build_report(store: RecordStore) -> RecordReport:
    runs = store.runs()
    start = min((r.started for r in runs), default=None)
    end = max((r.last_seen for r in runs), default=None)
    minutes = half_hours = range(0)
    if start is not None and end is not None:
        minutes = _owed(start, end, 60, _MINUTE_OWED_AFTER_S)
        half_hours = _owed(start, end, 1800, _HALF_HOUR_OWED_AFTER_S)
    collected = within = 0
    for slot, direction, _count, _kwh, received in store.intervals("minute"):
        if direction == "normal" and slot in minutes:
            collected += 1
            within += received - slot <= _WITHIN_S
    confirmed = sum(
        1
        for slot, direction, *_ in store.intervals("half_hour")
        if direction == "normal" and slot in half_hours
    )
    reasons = Counter(f"{kind}: {reason}" for kind, _slot, _direction, reason in store.gaps())
    return RecordReport(
        window_start=start,
        window_end=end,
        minutes_expected=len(minutes),
        minutes_collected=collected,
        minutes_within_60_min=within,
        half_hours_expected=len(half_hours),
        half_hours_collected=confirmed,
        unrecoverable=dict(reasons),
        disagreements=len(store.disagreements()),
        runs=len(runs),
        joins=sum(r.joins for r in runs),
        reopens=sum(r.reopens for r in runs),
        instantaneous_readings=store.instant_count(),
        problems=store.event_counts(),
    )


def format_report(report: RecordReport) -> str:
    lines = [
        f"1-minute values collected:        {report.minutes_collected}/{report.minutes_expected}"
        f" ({report.minutes_percent:.3f} %)",
        f"  collected within 60 minutes:    {report.minutes_within_60_min}"
        f" ({report.minutes_within_60_min_percent:.3f} %, target 100 %)",
        f"30-minute values confirmed:       {report.half_hours_collected}/"
        f"{report.half_hours_expected} ({report.half_hours_percent:.3f} %, target 100 %)",
        f"unrecoverable gaps:               {sum(report.unrecoverable.values())}",
    ]
    lines += [f"  {count} × {reason}" for reason, count in sorted(report.unrecoverable.items())]
    lines += [
        f"values read twice that disagreed: {report.disagreements}",
        f"recorder runs: {report.runs}, B-route joins: {report.joins}, "
        f"ports reopened: {report.reopens}",
        f"instantaneous readings:           {report.instantaneous_readings}",
    ]
    if report.problems:
        lines.append(
            "problems ridden through: "
            + ", ".join(f"{k} {v}" for k, v in sorted(report.problems.items()))
        )
    return "\n".join(lines)

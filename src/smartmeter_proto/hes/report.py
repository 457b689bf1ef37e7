"""Service-level report of a collection run, computed from the store alone.

Every figure comes from what the collector stored (:mod:`.storage`, or
:mod:`.parquet_store` with the readings in Parquet, read through the same methods), not
from counters of what was sent: the expected values are every capture time of the window
``(t0, end]`` per meter and class, less those inside an outage the store knows of (a Last
Gasp, or a failure read from the meter's power event log, up to the restoration: a meter
without power captures nothing). Targets (METI/ANRE next-generation smart meter
requirements, see ``/work/shared/notes/requirements.md``):

* preliminary: >= 99.7 % of all customers' 30-minute values within 60 minutes;
* confirmed: 100 % of 30-minute values, and of the 5-minute values of the 5-minute class;
* real-time: >= 90 % of the real-time 5-minute values within 10 minutes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from .push import PERIOD_5MIN, PERIOD_30MIN, PowerEventKind
from .storage import VIA_PUSH, Store

__all__ = ["Level", "ServiceReport", "received_times", "service_report"]

PRELIMINARY_S: Final = 3600
REALTIME_S: Final = 600
TARGET_PRELIMINARY: Final = 0.997
TARGET_CONFIRMED: Final = 1.0
TARGET_REALTIME: Final = 0.90


@dataclass(frozen=True, slots=True)
class Level:
    """One service level: ``met`` of ``expected`` values, against ``target``."""

    name: str
    met: int
    expected: int
    target: float

    @property
    def rate(self) -> float:
        return self.met / self.expected if self.expected else 1.0

    @property
    def ok(self) -> bool:
        return self.rate >= self.target - 1e-12


@dataclass(frozen=True, slots=True)
class ServiceReport:
    meters: int
    window: tuple[float, float]
    levels: tuple[Level, ...]
    lost_30min: int
    lost_5min: int
    last_gasps: int
    restorations: int
    outages_injected: int | None
    drops: dict[str, int]
    #: per 30-minute capture time: (expected, within 60 min, stored) for the chart
    timeline: tuple[tuple[int, int, int, int], ...]

    @property
    def ok(self) -> bool:
        return all(level.ok for level in self.levels)

    def table(self) -> list[str]:
        """The report as text lines."""
        lines = [f"{'service level':<44} {'met':>9} {'expected':>9} {'rate':>9} {'target':>8}  ok"]
        for level in self.levels:
            lines.append(
                f"{level.name:<44} {level.met:>9} {level.expected:>9} "
                f"{level.rate:>9.4%} {level.target:>8.1%}  "
                f"{'yes' if level.ok else 'NO'}"
            )
        injected = "?" if self.outages_injected is None else str(self.outages_injected)
        lines += [
            f"{'readings lost (30-min / 5-min)':<44} {self.lost_30min:>9} {self.lost_5min:>9}",
            f"{'Last Gasp alarms received / outages injected':<44} {self.last_gasps:>9} "
            f"{injected:>9}",
            f"{'restorations received':<44} {self.restorations:>9}",
        ]
        if self.drops:
            dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.drops.items()))
            lines.append(f"datagrams dropped: {dropped}")
        return lines


def received_times(store: Store, t0: float, end: float) -> Iterable[tuple[bytes, int, int, float]]:
    """(system title, period, period end, received_at) of every stored reading with
    ``t0 < period_end <= end``, from whichever store holds them."""
    return store.received_times(t0, end)


def _outages(
    events_by_time: Iterable[tuple[bytes, int, int, int]],
) -> dict[bytes, list[tuple[float, float]]]:
    """(failure, restoration) spans per meter from the stored power events."""
    events: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for title, kind, at, _ in events_by_time:
        events[title].append((at, kind))
    spans: dict[bytes, list[tuple[float, float]]] = {}
    for title, seq in events.items():
        out: list[tuple[float, float]] = []
        failed: float | None = None
        for at, kind in seq:
            if kind == PowerEventKind.LAST_GASP and failed is None:
                failed = at
            elif kind == PowerEventKind.RESTORED and failed is not None:
                out.append((failed, at))
                failed = None
        if failed is not None:
            out.append((failed, math.inf))
        spans[title] = out
    return spans


def _powered(at: int, spans: list[tuple[float, float]]) -> bool:
    return not any(f < at <= r for f, r in spans)


def _boundaries(t0: float, end: float, period: int) -> range:
    return range(
        math.floor(t0 / period) * period + period, math.floor(end / period) * period + 1, period
    )


def service_report(
    store: Store, *, t0: float, end: float, outages_injected: int | None = None
) -> ServiceReport:
    """The service levels of the window ``(t0, end]`` from what ``store`` holds."""
    store.flush()
    meters = {
        t: (bool(f), bool(r))
        for t, f, r in store.db.execute("SELECT system_title, five_min, realtime FROM meters")
    }
    events = store.power_events()
    spans = _outages(events)
    stored: dict[tuple[bytes, int], dict[int, float]] = defaultdict(dict)
    for title, period, at, arrived in received_times(store, t0, end):
        times = stored[(title, period)]
        first = times.get(at)
        if first is None or arrived < first:  # first arrival wins (a store may hold both)
            times[at] = arrived
    grid30 = _boundaries(t0, end, PERIOD_30MIN)
    grid5 = _boundaries(t0, end, PERIOD_5MIN)
    counts: defaultdict[str, int] = defaultdict(int)
    timeline = {b: [0, 0, 0] for b in grid30}
    for title, (five_min, realtime) in meters.items():
        meter_spans = spans.get(title, [])
        got = stored.get((title, PERIOD_30MIN), {})
        for at in grid30:
            if not _powered(at, meter_spans):
                continue
            received = got.get(at)
            counts["e30"] += 1
            timeline[at][0] += 1
            if received is not None:
                counts["c30"] += 1
                timeline[at][2] += 1
                if received - at <= PRELIMINARY_S:
                    counts["p30"] += 1
                    timeline[at][1] += 1
        if not five_min:
            continue
        got5 = stored.get((title, PERIOD_5MIN), {})
        for at in grid5:
            if not _powered(at, meter_spans):
                continue
            received = got5.get(at)
            counts["e5"] += 1
            counts["c5"] += received is not None
            if realtime:
                counts["er"] += 1
                counts["r5"] += received is not None and received - at <= REALTIME_S
    kinds: defaultdict[int, int] = defaultdict(int)
    for _, kind, _, via in events:
        if via == VIA_PUSH:
            kinds[kind] += 1
    levels = (
        Level(
            "30-min values within 60 min (preliminary)",
            counts["p30"],
            counts["e30"],
            TARGET_PRELIMINARY,
        ),
        Level(
            "30-min values collected (confirmed)", counts["c30"], counts["e30"], TARGET_CONFIRMED
        ),
        Level(
            "5-min values of the 5-min class (confirmed)",
            counts["c5"],
            counts["e5"],
            TARGET_CONFIRMED,
        ),
        Level("real-time 5-min values within 10 min", counts["r5"], counts["er"], TARGET_REALTIME),
    )
    return ServiceReport(
        meters=len(meters),
        window=(t0, end),
        levels=levels,
        lost_30min=counts["e30"] - counts["c30"],
        lost_5min=counts["e5"] - counts["c5"],
        last_gasps=kinds.get(int(PowerEventKind.LAST_GASP), 0),
        restorations=kinds.get(int(PowerEventKind.RESTORED), 0),
        outages_injected=outages_injected,
        drops=store.drops(),
        timeline=tuple(
            (b, timeline[b][0], timeline[b][1], timeline[b][2]) for b in sorted(timeline)
        ),
    )

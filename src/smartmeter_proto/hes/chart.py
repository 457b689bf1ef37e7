"""PNG chart of a collection run (matplotlib, optional extra ``hes``).

Per 30-minute capture time: the share of the expected values stored within 60 minutes
(preliminary) and in the end (confirmed), with the injected outage windows shaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .push import JST
from .report import TARGET_PRELIMINARY, ServiceReport

__all__ = ["write_chart"]


def write_chart(
    report: ServiceReport,
    path: str | Path,
    *,
    outages: Sequence[tuple[float, float]] = (),
    title: str = "A-route collection",
) -> Path:
    """Draw ``report``'s timeline into the PNG file ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = report.window[0]
    times = [(t - t0) / 3600 for t, *_ in report.timeline]
    share_60 = [(p / e * 100 if e else 100.0) for _, e, p, _c in report.timeline]
    share_all = [(c / e * 100 if e else 100.0) for _, e, _p, c in report.timeline]
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=100)
    axes.plot(times, share_all, label="collected (confirmed)", color="tab:green", linewidth=2)
    axes.plot(
        times,
        share_60,
        label="within 60 min (preliminary)",
        color="tab:blue",
        marker=".",
        linewidth=1,
    )
    axes.axhline(
        TARGET_PRELIMINARY * 100,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"target {TARGET_PRELIMINARY:.1%} within 60 min",
    )
    for begin, end in outages:
        axes.axvspan(
            (begin - t0) / 3600,
            (end - t0) / 3600,
            color="tab:gray",
            alpha=0.25,
            label="area outage",
        )
    low = min([*share_60, *share_all, TARGET_PRELIMINARY * 100], default=100.0)
    axes.set_ylim(max(0.0, low - 1.0), 100.5)
    axes.set_ylabel("% of expected 30-min values")
    start = datetime.fromtimestamp(t0, JST).strftime("%Y-%m-%d %H:%M JST")
    axes.set_xlabel(f"capture time, hours since {start}")
    axes.set_title(f"{title}: {report.meters} meters")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    out = Path(path)
    figure.savefig(out, format="png")
    plt.close(figure)
    return out

"""Simulated time for runs whose outcome must depend on events, not on the machine's speed."""

from __future__ import annotations

__all__ = ["VirtualClock"]


class VirtualClock:
    """Simulated POSIX seconds, moved only by the runner."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

"""Run the conformance checks against one ECHONET Lite node through an :class:`EchonetClient`.

``await run_conformance(client, address)`` discovers the node's objects through
its node profile, runs :data:`~.checks.OBJECT_CHECKS` on each, then the
response-time check and, when asked, bounded fuzz bursts: ``fuzz_frames``
malformed frames from a deterministic mutator, sent to ``address`` only, in
bursts of ``fuzz_burst``, each followed by a Get that the node must still
answer. The run ends by itself; nothing is sent anywhere but ``address``.
Writes are harmless unless ``allow_writes`` is set: SetC of a value just read
back, and Sets the specification obliges the device to refuse; only with it
does the status-change check write a new value (and restore the old one).

Each result goes to ``on_result`` as soon as its check ends (a command line
prints it at once), and into the :class:`Report` the caller may pass in, so
an interrupted run keeps what it found. Answer times are read from ``clock``
(``time.monotonic`` by default; a test passes a virtual clock).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from ..echonet import frame as _frame
from ..echonet.frame import EOJ, ESV, Frame, Property
from ..echonet.node import SELF_NODE_INSTANCE_LIST
from ..echonet.session import CONTROLLER
from ..errors import DecodeError
from ..transport.udp import EchonetClient
from .checks import (
    CHECKS,
    FUZZ_ALIVE,
    NODE_REACHABLE,
    OBJECT_CHECKS,
    RESPONSE_TIME,
    CheckInfo,
    Outcome,
    Result,
    Verdict,
    node_reachable,
    passed,
    profile_target,
    response_time,
    skipped,
)
from .probe import Exchange, Probe, Target

__all__ = [
    "FUZZ_ALIVE",
    "MAX_FUZZ_FRAMES",
    "Exchange",
    "Probe",
    "Report",
    "RunConfig",
    "malformed_frames",
    "run_conformance",
]

#: Upper bound of ``fuzz_frames``: the burst option must stay a short, bounded run.
MAX_FUZZ_FRAMES: Final = 10_000
#: Pause between two fuzz frames, so a constrained node (B-route, 100 kbit/s) is not flooded.
FUZZ_GAP_S: Final = 0.002
#: Request services that write (SetI, SetC, SetGet; Part II §3.2.5): no mutant may carry them.
_WRITE_SERVICES: Final = frozenset({ESV.SETI, ESV.SETC, ESV.SETGET})
_ESV_OFFSET: Final = 10
#: Attempts to find a malformed mutant before falling back to a bare header.
_MUTATION_ATTEMPTS: Final = 32


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Bounds of a run: the response-time limit, the fuzz option (off by default), and
    whether checks may change a property's value (off by default: a plugfest target may be
    a real appliance; without it only the value just read is ever written back)."""

    response_bound_s: float = 2.0
    fuzz_frames: int = 0
    fuzz_burst: int = 16
    fuzz_seed: int = 1
    allow_writes: bool = False

    def __post_init__(self) -> None:
        if self.response_bound_s <= 0:
            raise ValueError("response_bound_s must be > 0")
        if not 0 <= self.fuzz_frames <= MAX_FUZZ_FRAMES:
            raise ValueError(f"fuzz_frames must be 0..{MAX_FUZZ_FRAMES}")
        if self.fuzz_burst < 1:
            raise ValueError("fuzz_burst must be >= 1")


@dataclass(slots=True)
class Report:
    """Every result of one run, in the order the checks ran; ``complete`` once all ran."""

    target: str
    results: list[Result] = field(default_factory=list)
    duration_s: float = 0.0
    complete: bool = False
    #: Called with each result as it is added.
    on_result: Callable[[Result], None] | None = field(default=None, repr=False)

    def add(self, result: Result) -> None:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        """No check failed (skips do not count against the node)."""
        return self.count(Outcome.FAIL) == 0

    def failing(self) -> list[tuple[str, str]]:
        """``(check id, subject)`` of every failed check."""
        return [(r.check_id, r.subject) for r in self.results if r.outcome is Outcome.FAIL]


async def _timed(
    report: Report,
    info: CheckInfo,
    subject: str,
    run: Awaitable[Verdict],
    clock: Callable[[], float],
) -> Verdict:
    start = clock()
    verdict = await run
    report.add(Result(info, subject, verdict.outcome, verdict.reason, clock() - start))
    return verdict


async def run_conformance(
    client: EchonetClient,
    address: tuple[str, int],
    config: RunConfig | None = None,
    *,
    label: str | None = None,
    report: Report | None = None,
    on_result: Callable[[Result], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Run every check against the node at ``address``; the report says PASS/FAIL/SKIP each.

    ``report`` (made here when not given) collects the results as they come,
    ``on_result`` sees each one at once; ``clock`` times the answers.
    """
    config = config or RunConfig()
    if report is None:
        report = Report(label or f"{address[0]}:{address[1]}")
    if on_result is not None:
        report.on_result = on_result
    started = time.monotonic()
    probe = Probe(client, address, clock=clock, allow_writes=config.allow_writes)
    probe.install()
    try:
        profile = profile_target()
        start = clock()
        verdict, instances = await node_reachable(probe, profile)
        reached = Result(
            NODE_REACHABLE, str(profile.eoj), verdict.outcome, verdict.reason, clock() - start
        )
        report.add(reached)
        if verdict.outcome is not Outcome.PASS:
            for info in CHECKS.values():
                if info is not NODE_REACHABLE:
                    report.add(Result(info, "node", Outcome.SKIP, "node profile unreachable"))
            report.complete = True
            return report
        targets = [profile, *(Target.of(eoj) for eoj in instances)]
        for target in targets:
            for info, check in OBJECT_CHECKS:
                await _timed(report, info, str(target.eoj), check(probe, target), clock)
        timing = response_time(config.response_bound_s)
        for target in targets:
            await _timed(report, RESPONSE_TIME, str(target.eoj), timing(probe, target), clock)
        if config.fuzz_frames:
            fuzz = _fuzz(probe, profile, instances, config)
            await _timed(report, FUZZ_ALIVE, "node", fuzz, clock)
        else:
            report.add(
                Result(FUZZ_ALIVE, "node", Outcome.SKIP, "fuzz bursts not requested (--fuzz N)")
            )
        report.complete = True
    finally:
        probe.uninstall()
        report.duration_s = time.monotonic() - started
    return report


# ------------------------------------------------------------------------ fuzzing
def _seeds(objects: list[EOJ]) -> list[bytes]:
    """Well-formed Gets (0x80, 0x9F) to each object: the material the mutator bends."""
    seeds = []
    for index, eoj in enumerate(objects):
        props = (Property(0x80), Property(0x9F))
        seeds.append(_frame.encode(Frame(0xF000 + index, CONTROLLER, eoj, ESV.GET, props)))
    return seeds


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0:  # truncate
        return bytes(buf[: rng.randrange(len(buf))])
    if kind == 1:  # flip one bit
        at = rng.randrange(len(buf))
        buf[at] ^= 1 << rng.randrange(8)
    elif kind == 2 and buf[11] < 0xFF:  # OPC larger than the properties that follow
        buf[11] = rng.randrange(buf[11] + 1, 256)
    elif kind == 2:  # OPC already 255 (an earlier mutation): no larger one exists
        buf[11] = 0
    elif kind == 3:  # a PDC running past the end
        buf[13] = rng.randrange(1, 256)
    elif kind == 4:  # bad EHD1/EHD2
        buf[rng.randrange(2)] = rng.randrange(256)
    elif kind == 5:  # trailing garbage
        buf += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    else:  # an ESV the specification does not define
        buf[_ESV_OFFSET] = rng.choice((0x00, 0x5F, 0x64, 0x6F, 0x70, 0x8F, 0xFF))
    return bytes(buf)


def _is_malformed(data: bytes) -> bool:
    """Broken for a strict decoder, and never readable as a write by a lenient one."""
    if len(data) > _ESV_OFFSET and data[_ESV_OFFSET] in _WRITE_SERVICES:
        return False
    try:
        _frame.decode(data, strict=True)
    except DecodeError:
        return True
    return False


def malformed_frames(objects: list[EOJ], count: int, seed: int) -> list[bytes]:
    """``count`` malformed frames aimed at ``objects``, the same for the same ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mutator, not cryptography
    seeds = _seeds(objects)
    out = []
    for _ in range(count):
        base = rng.choice(seeds)
        for _ in range(_MUTATION_ATTEMPTS):
            mutant = _mutate(base, rng)
            if rng.random() < 0.3:
                mutant = _mutate(mutant, rng) if len(mutant) > _ESV_OFFSET + 3 else mutant
            if _is_malformed(mutant):
                break
        else:
            mutant = base[:4]  # EHD + TID only: always too short
        out.append(mutant)
    return out


async def _fuzz(
    probe: Probe, profile: Target, instances: tuple[EOJ, ...], config: RunConfig
) -> Verdict:
    frames = malformed_frames([profile.eoj, *instances], config.fuzz_frames, config.fuzz_seed)
    bursts = [frames[i : i + config.fuzz_burst] for i in range(0, len(frames), config.fuzz_burst)]
    for number, burst in enumerate(bursts, 1):
        for data in burst:
            await probe.send_raw(data)
            await asyncio.sleep(FUZZ_GAP_S)
        alive = await probe.get(profile, [SELF_NODE_INSTANCE_LIST])
        if alive.done is None or alive.done.refused:
            first = (number - 1) * config.fuzz_burst
            return Verdict(
                Outcome.FAIL,
                f"no answer to Get 0x0EF001 0xD6 after burst {number} of {len(bursts)} "
                f"(frames {first}..{first + len(burst) - 1}, seed {config.fuzz_seed}): "
                f"{alive.error or 'refused'}",
            )
    if not bursts:
        return skipped("no fuzz frames")
    return passed(
        f"{len(frames)} malformed frames in {len(bursts)} bursts (seed {config.fuzz_seed}); "
        "the node answered a Get after every burst"
    )

"""Shared fuzz harness: the target registry, the invariant check and the runners.

The invariant every target keeps: any bytes give a value or a ``DecodeError``
(state machines: a value, never an exception), within a time budget and a
``tracemalloc`` peak that both grow linearly with the input size. Anything else
is a :class:`Crash`.

Targets are built lazily (:func:`get_target`), so a coverage-guided run can
import the library under atheris instrumentation first.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import random
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final

FUZZ_DIR: Final = Path(__file__).resolve().parent
REPO: Final = FUZZ_DIR.parent
CORPUS_DIR: Final = FUZZ_DIR / "corpus"
KNOWN_CRASHES: Final = FUZZ_DIR / "known_crashes.txt"

if str(REPO / "src") not in sys.path:  # run from a checkout without an installed package
    sys.path.append(str(REPO / "src"))

__all__ = [
    "CORPUS_DIR",
    "TARGET_NAMES",
    "Budget",
    "Crash",
    "Target",
    "check",
    "corpus_files",
    "get_target",
    "known_crashes",
    "main",
]

#: Every target: ``fuzz/<name>.py`` defines ``build() -> Target``.
TARGET_NAMES: Final = (
    "echonet_frame",
    "echonet_typed",
    "echonet_property",
    "skstack_line",
    "skstack_stream",
    "skstack_command",
    "j11_frame",
    "j11_stream",
    "j11_message",
    "broute_input",
    "echonet_session",
    "echonet_node",
    "iot_frame",
    "iot_cose",
    "pana_message",
    "pana_session",
    "eap_psk",
    "lowpan_frame",
    "g3_usi",
    "g3_broute",
    "dlms_axdr",
    "dlms_apdu",
    "dlms_security",
    "dlms_framing",
    "hes_collector",
    "dlms_sealed",
    "iot_sealed",
    "diff_axdr",
    "diff_cose",
    "diff_lowpan",
)

#: Per-input wall-clock budget: generous, so a loaded CI machine does not flake, but a
#: hang (an input-independent loop, or a blow-up far beyond linear) is caught.
TIME_BASE_S: Final = 1.0
TIME_PER_BYTE_S: Final = 0.0005
#: Per-input tracemalloc peak budget: fixed overhead (caches filled on first use, event
#: lists, exception objects) plus a constant factor per input byte. The corpus peaks at
#: about 1/10 of this (fuzz/README.md); caches are warmed before anything is measured.
MEMORY_BASE: Final = 512 * 1024
MEMORY_PER_BYTE: Final = 128
#: Seeds run once per target before measuring (see _warm_up).
WARM_UP_SEEDS: Final = 200
#: Inputs longer than this are cut (mutators and libFuzzer may grow them).
MAX_INPUT: Final = 1 << 16


@dataclass(frozen=True, slots=True)
class Budget:
    """Time (seconds) and tracemalloc peak (bytes) allowed for an input of ``size`` bytes."""

    seconds: float
    peak_bytes: int

    @classmethod
    def for_size(cls, size: int) -> Budget:
        return cls(TIME_BASE_S + TIME_PER_BYTE_S * size, MEMORY_BASE + MEMORY_PER_BYTE * size)


@dataclass(frozen=True, slots=True)
class Target:
    """One fuzz target: ``call`` takes raw bytes; ``allowed`` are the exceptions it may raise."""

    name: str
    call: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    #: Which structure-aware mutators apply: "echonet", "j11", "skstack" or "bytes".
    family: str
    #: How many leading bytes select options (dialect, mode) rather than payload.
    prefix: int = 0


class Crash(Exception):
    """The invariant broke: an exception escaped, the budget ran out, or memory grew."""

    def __init__(self, target: str, data: bytes, kind: str, detail: str, signature: str) -> None:
        self.target = target
        self.data = data
        self.kind = kind
        self.detail = detail
        self.signature = signature
        super().__init__(
            f"{target}: {kind} on input {data[:64].hex()}{'...' if len(data) > 64 else ''}"
        )

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.data, usedforsecurity=False).hexdigest()

    def report(self) -> str:
        return (
            f"target: {self.target}\nkind: {self.kind}\nsignature: {self.signature}\n"
            f"input ({len(self.data)} bytes): {self.data.hex()}\n{self.detail}"
        )


class _Hang(BaseException):
    """Raised by the watchdog timer inside a call that overran its budget."""


_TARGETS: dict[str, Target] = {}


def get_target(name: str) -> Target:
    """The target called ``name`` (imports the library on first use)."""
    found = _TARGETS.get(name)
    if found is None:
        if name not in TARGET_NAMES:
            raise KeyError(f"unknown fuzz target {name!r}; known: {', '.join(TARGET_NAMES)}")
        if str(FUZZ_DIR) not in sys.path:
            sys.path.insert(0, str(FUZZ_DIR))
        found = _TARGETS[name] = importlib.import_module(name).build()
        _warm_up(found)
    return found


def _warm_up(target: Target) -> None:
    """Run the seeds once, unmeasured: spec files and decoder tables load on first use.

    Every class file is loaded too: loading one is a one-time cost that does not
    depend on the input, so it must not count against an input's memory budget.
    """
    from smartmeter_proto.echonet.specs import known_classes, load_class

    for class_id in known_classes():
        load_class(class_id)
    for path in corpus_files(target.name)[:WARM_UP_SEEDS]:
        with contextlib.suppress(Exception):
            target.call(path.read_bytes())


def _signature(tb: TracebackType | None, exc: BaseException) -> str:
    """Exception type and the innermost library function (else the innermost function).

    Function names, not line numbers: the signature must survive edits elsewhere in
    the file, so a known crash is recognised whatever mutant hits it.
    """
    where = "?"
    inner = "?"
    for frame, _line in traceback.walk_tb(tb):
        path = frame.f_code.co_filename
        inner = f"{Path(path).name}:{frame.f_code.co_name}"
        if "smartmeter_proto" in path:
            where = f"{path[path.rindex('smartmeter_proto') :]}:{frame.f_code.co_name}"
    return f"{type(exc).__name__}@{where if where != '?' else inner}"


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Interrupt the call with :class:`_Hang` after ``seconds`` (POSIX main thread only)."""
    usable = hasattr(signal, "setitimer") and _in_main_thread()
    if not usable:
        yield
        return

    def fire(_signum: int, _frame: FrameType | None) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


#: Budget breaches (time or memory) that did not happen again when the input was re-run:
#: a loaded machine starving a ``nice``d run, or a one-time allocation on first use.
UNCONFIRMED: dict[str, int] = {}
#: Crash kinds that are re-run once before they count (an exception always counts).
_RECHECKED: Final = frozenset({"hang", "slow", "memory"})


def check(target: Target, data: bytes, *, memory: bool = False, watchdog: bool = True) -> object:
    """Run ``target`` on ``data`` and enforce the invariant; return what the call returned.

    ``memory=True`` measures the tracemalloc peak (slow: a few times slower per call).
    A budget breach is re-run once, measured, and counts only if it happens again
    (:data:`UNCONFIRMED` counts the others per target).
    """
    try:
        return _check_once(target, data, memory=memory, watchdog=watchdog)
    except Crash as crash:
        if crash.kind.split()[0] not in _RECHECKED:
            raise
        result = _check_once(target, data, memory=True, watchdog=watchdog)
        UNCONFIRMED[target.name] = UNCONFIRMED.get(target.name, 0) + 1
        return result


def _check_once(target: Target, data: bytes, *, memory: bool, watchdog: bool) -> object:
    data = bytes(data[:MAX_INPUT])
    budget = Budget.for_size(len(data))
    tracing = memory and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    start = time.perf_counter()
    result: object = None
    try:
        if watchdog:
            with _watchdog(budget.seconds):
                result = target.call(data)
        else:
            result = target.call(data)
    except target.allowed:
        pass
    except _Hang:
        raise Crash(
            target.name, data, "hang", f"no result within {budget.seconds:.2f} s", "hang"
        ) from None
    except RecursionError as exc:
        raise Crash(
            target.name,
            data,
            "RecursionError",
            traceback.format_exc(),
            _signature(exc.__traceback__, exc),
        ) from None
    except Exception as exc:
        raise Crash(
            target.name,
            data,
            f"uncaught {type(exc).__name__}",
            traceback.format_exc(),
            _signature(exc.__traceback__, exc),
        ) from None
    finally:
        elapsed = time.perf_counter() - start
        peak = 0
        if tracing:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    if elapsed > budget.seconds:
        raise Crash(target.name, data, "slow", f"{elapsed:.3f} s > {budget.seconds:.3f} s", "slow")
    if tracing and peak > budget.peak_bytes:
        raise Crash(
            target.name,
            data,
            "memory",
            f"tracemalloc peak {peak} bytes > budget {budget.peak_bytes} for {len(data)} bytes",
            "memory",
        )
    return result


# --------------------------------------------------------------------------- corpus
def corpus_files(name: str) -> list[Path]:
    """Every corpus file of target ``name``, sorted (reproducers included)."""
    folder = CORPUS_DIR / name
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


@dataclass(frozen=True, slots=True)
class KnownCrash:
    """One line of known_crashes.txt: ``target/file | signature | reason``."""

    target: str
    file: str
    signature: str
    reason: str


def known_crashes(path: Path = KNOWN_CRASHES) -> list[KnownCrash]:
    """The known, unfixed crashes; their reproducers are skipped by smoke.py and the test."""
    if not path.is_file():
        return []
    out: list[KnownCrash] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or "/" not in parts[0] or not parts[2]:
            raise ValueError(f"{path}:{number}: expected 'target/file | signature | reason'")
        target, _, file = parts[0].partition("/")
        out.append(KnownCrash(target, file, parts[1], parts[2]))
    return out


def seeds(name: str) -> list[bytes]:
    """Corpus inputs of ``name`` minus the known crashes."""
    skip = {k.file for k in known_crashes() if k.target == name}
    return [p.read_bytes() for p in corpus_files(name) if p.name not in skip]


# --------------------------------------------------------------------------- runners
def _mutate(target: Target, pool: list[bytes], rng: random.Random) -> bytes:
    from mutators import mutate

    return mutate(target.family, pool, rng, prefix=target.prefix)


def mutation_run(
    target: Target,
    *,
    seconds: float,
    seed: int = 0,
    max_execs: int | None = None,
    memory_every: int = 32,
    on_crash: Callable[[Crash], bool] | None = None,
) -> tuple[int, float]:
    """Structure-aware + byte-level mutation of the corpus for ``seconds``.

    Deterministic for a given seed and execution count. ``on_crash`` returns
    True to go on (a known crash), False to stop; without it a crash propagates.
    Returns (executions, elapsed seconds).
    """
    rng = random.Random(f"{target.name}:{seed}")
    pool = seeds(target.name) or [b""]
    start = time.perf_counter()
    execs = 0
    while time.perf_counter() - start < seconds and (max_execs is None or execs < max_execs):
        data = _mutate(target, pool, rng)
        try:
            check(target, data, memory=execs % memory_every == memory_every - 1)
        except Crash as crash:
            if on_crash is None:
                raise
            if not on_crash(crash):
                break
        execs += 1
    return execs, time.perf_counter() - start


def _hypothesis_run(target: Target, *, max_examples: int, seconds: float, seed: int) -> int:
    """Fallback when atheris is missing: Hypothesis draws raw bytes and mutated seeds."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hyp_seed
    from hypothesis import strategies as st
    from mutators import mutate

    pool = seeds(target.name) or [b""]
    mutated = st.randoms(use_true_random=False).map(
        lambda r: mutate(target.family, pool, r, prefix=target.prefix)
    )
    strategy = st.one_of(st.binary(max_size=512), st.sampled_from(pool), mutated, mutated)
    count = 0
    known = {k.signature for k in known_crashes() if k.target == target.name}

    def body(data: bytes) -> None:
        nonlocal count
        count += 1
        try:
            check(target, data, memory=count % 32 == 0)
        except Crash as crash:
            if crash.signature not in known:
                raise

    deadline = time.perf_counter() + seconds
    batch = 0
    while count < max_examples and time.perf_counter() < deadline:
        size = min(500, max_examples - count)
        test = settings(
            max_examples=size,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(hyp_seed(seed + batch)(given(strategy)(body)))
        test()
        batch += 1
    return count


def _atheris_module() -> Any:
    try:
        return importlib.import_module("atheris")
    except ImportError:
        return None


def main(name: str, argv: list[str] | None = None) -> int:
    """Command line of one ``fuzz/<target>.py`` script."""
    argv = sys.argv if argv is None else argv
    parser = argparse.ArgumentParser(
        prog=f"fuzz/{name}.py",
        description=f"Fuzz the {name} target: atheris when importable, else Hypothesis.",
        epilog="Unrecognised options (-runs=N, -max_total_time=S, ...) go to libFuzzer.",
    )
    parser.add_argument("--fallback", action="store_true", help="use Hypothesis, not atheris")
    parser.add_argument("--max-examples", type=int, default=20_000, help="fallback: examples")
    parser.add_argument("--seconds", type=float, default=60.0, help="fallback: time limit")
    parser.add_argument("--seed", type=int, default=0, help="fallback: Hypothesis seed")
    args, rest = parser.parse_known_args(argv[1:])
    atheris = None if args.fallback else _atheris_module()
    if atheris is None:
        target = get_target(name)
        try:
            count = _hypothesis_run(
                target, max_examples=args.max_examples, seconds=args.seconds, seed=args.seed
            )
        except Crash as crash:
            print(crash.report(), file=sys.stderr)
            return 1
        print(f"{name}: {count} examples, no crash (Hypothesis fallback)")
        return 0
    with atheris.instrument_imports(include=["smartmeter_proto"]):
        target = get_target(name)
    return _run_atheris(atheris, target, [argv[0], *rest])


def _run_atheris(atheris: Any, target: Target, argv: list[str]) -> int:
    from mutators import mutate

    pool = seeds(target.name) or [b""]
    known = {k.signature for k in known_crashes() if k.target == target.name}

    def test_one_input(data: bytes) -> None:
        try:
            check(target, data, watchdog=False)  # libFuzzer's -timeout owns SIGALRM
        except Crash as crash:
            if crash.signature not in known:
                print(crash.report(), file=sys.stderr)
                raise

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return bytes(atheris.Mutate(data, max_size))
        return mutate(
            target.family, [data, *rng.sample(pool, min(4, len(pool)))], rng, prefix=target.prefix
        )[:max_size]

    corpus = CORPUS_DIR / target.name
    if not any(not a.startswith("-") for a in argv[1:]):
        # New inputs go to a scratch folder (first), the seeds are read from the corpus.
        work = Path(tempfile.gettempdir()) / "smartmeter-proto-fuzz" / target.name
        work.mkdir(parents=True, exist_ok=True)
        argv = [*argv, str(work), str(corpus)]
    if not any(a.startswith("-artifact_prefix=") for a in argv):
        argv = [*argv, f"-artifact_prefix={corpus}/"]
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 0

"""A long mutation campaign: every target in turn, crashes kept, execution counts recorded.

    python fuzz/campaign.py --seconds 40 --seed 1001                 # every target
    python fuzz/campaign.py --seconds 60 --targets dlms_sealed,iot_sealed --json out.json

The runner of ``smoke.py`` (structure-aware + byte-level mutation of the corpus,
one input in 32 measured with tracemalloc), but a crash does not end the target's
run: its reproducer is written to ``corpus/<target>/crash-<sha1>`` and the run goes
on; later inputs with the same signature are counted, not written again. Then every
stateful harness (fuzz/stateful.py) takes ``--stateful-inputs`` inputs through one object
and checks its growth budget. Prints one line per target (and the verdicts of the
differential targets) and a total; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _harness import (
    CORPUS_DIR,
    TARGET_NAMES,
    UNCONFIRMED,
    Crash,
    get_target,
    known_crashes,
    mutation_run,
)


def _run_target(name: str, seconds: float, seed: int) -> dict[str, object]:
    target = get_target(name)
    known = {k.signature for k in known_crashes() if k.target == name}
    found: dict[str, str] = {}
    hits = 0

    def on_crash(crash: Crash) -> bool:
        nonlocal hits
        if crash.signature in known or crash.signature in found:
            hits += 1
            return True
        folder = CORPUS_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{crash.sha1}"
        path.write_bytes(crash.data)
        found[crash.signature] = path.name
        print(f"\nCRASH in target {name}: {path.name}\n{crash.report()}", file=sys.stderr)
        return True

    execs, elapsed = mutation_run(target, seconds=seconds, seed=seed, on_crash=on_crash)
    return {
        "target": name,
        "execs": execs,
        "seconds": round(elapsed, 1),
        "crashes": found,
        "repeat_hits": hits,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="mutation time per target")
    parser.add_argument("--seed", type=int, default=1001)
    parser.add_argument("--targets", default=",".join(TARGET_NAMES))
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--stateful-inputs",
        type=int,
        default=10_000,
        help="inputs per stateful subject (fuzz/stateful.py); 0 skips them",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.targets.split(",") if n]
    unknown = sorted(set(names) - set(TARGET_NAMES))
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    rows: list[dict[str, object]] = []
    start = time.perf_counter()
    for name in names:
        row = _run_target(name, args.seconds, args.seed)
        rows.append(row)
        execs, elapsed = int(row["execs"]), float(row["seconds"])  # type: ignore[call-overload]
        crashes = row["crashes"]
        print(
            f"{name:20} {execs:9} execs in {elapsed:6.1f} s "
            f"({execs / max(elapsed, 1e-9):7.0f}/s), crashes: {len(crashes) or 'none'}",  # type: ignore[arg-type]
            flush=True,
        )
    for name in names:
        outcomes = getattr(sys.modules.get(name), "OUTCOMES", None)
        if outcomes:
            rows[names.index(name)]["verdicts"] = dict(outcomes.most_common())
            print(f"{name} verdicts: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    unconfirmed = dict(UNCONFIRMED)
    if unconfirmed:
        print(f"budget breaches not confirmed on re-run: {unconfirmed}")
    stateful_rows: list[dict[str, object]] = []
    if args.stateful_inputs:
        import stateful

        for subject in stateful.SUBJECTS.values():
            result = stateful.run(subject, inputs=args.stateful_inputs, seed=args.seed)
            stateful_rows.append(
                {
                    "subject": subject.name,
                    "execs": result.inputs,
                    "seconds": round(result.seconds, 1),
                    "growth": result.growth,
                    "budget": subject.budget,
                    "ok": result.ok,
                    "failure": result.failure,
                }
            )
            print(
                f"stateful {subject.name:19} {result.inputs:6} inputs in "
                f"{result.seconds:5.1f} s, growth {result.growth / 1024:6.1f} KiB of "
                f"{subject.budget // 1024} KiB: {'ok' if result.ok else 'FAIL'}",
                flush=True,
            )
            if result.failure:
                print(result.failure, file=sys.stderr)
    total = sum(int(r["execs"]) for r in rows)  # type: ignore[call-overload]
    total += sum(int(r["execs"]) for r in stateful_rows)  # type: ignore[call-overload]
    wall = time.perf_counter() - start
    print(f"campaign: {len(rows)} targets, {total} execs in {wall:.0f} s, seed {args.seed}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "total": total,
                    "wall_s": round(wall),
                    "rows": rows,
                    "stateful": stateful_rows,
                    "unconfirmed": unconfirmed,
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    failed = any(r["crashes"] for r in rows) or not all(r["ok"] for r in stateful_rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# A longer fuzz campaign in one command: every target in turn, then the stateful harnesses.
# Coverage-guided with atheris when it imports, else the mutation runner of fuzz/campaign.py
# (the smoke.py mutators, crashes kept and the run goes on). Crashes land in
# fuzz/corpus/<target>/crash-*.
#
#   bash fuzz/campaign.sh                # 300 s per target, 10 000 inputs per stateful harness
#   SECONDS_PER_TARGET=60 bash fuzz/campaign.sh echonet_frame j11_stream
#   FALLBACK=1 bash fuzz/campaign.sh     # the mutation runner even when atheris imports
#   FALLBACK=hypothesis bash fuzz/campaign.sh   # the Hypothesis fallback of each script
#   nice -n 19 bash fuzz/campaign.sh     # on a shared machine
#
# atheris is not a project dependency: `.venv/bin/pip install atheris` (a manylinux wheel,
# no clang needed on x86-64 Linux with CPython 3.11) to get coverage guidance.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PER=${SECONDS_PER_TARGET:-300}
SEED=${SEED:-1001}
STATEFUL=${STATEFUL_INPUTS:-10000}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cd fuzz && "$PY" -c "import _harness; print('\n'.join(_harness.TARGET_NAMES))")
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${FALLBACK:-}" ] && "$PY" -c "import atheris" 2>/dev/null; then
  MODE=atheris
elif [ "${FALLBACK:-}" = hypothesis ]; then
  MODE=hypothesis
else
  MODE=mutation
fi
echo "fuzz campaign: ${#TARGETS[@]} targets, ${PER} s each, mode ${MODE}"
failed=()
if [ "$MODE" = mutation ]; then
  list=$(IFS=,; echo "${TARGETS[*]}")
  "$PY" fuzz/campaign.py --seconds "$PER" --seed "$SEED" --targets "$list" \
    --stateful-inputs "$STATEFUL" --json "${TMPDIR:-/tmp}/smartmeter-proto-campaign.json" \
    || failed+=("mutation campaign")
else
  for target in "${TARGETS[@]}"; do
    echo "== ${target}"
    if [ "$MODE" = atheris ]; then
      # -timeout: a hang; -rss_limit_mb: memory; -max_len: inputs up to 4 KiB.
      "$PY" "fuzz/${target}.py" -max_total_time="$PER" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 || failed+=("$target")
    else
      "$PY" "fuzz/${target}.py" --fallback --seconds "$PER" --max-examples 100000000 \
        || failed+=("$target")
    fi
  done
  "$PY" fuzz/stateful.py --inputs "$STATEFUL" --seed "$SEED" || failed+=("stateful")
fi
# Every reproducer found, plus the known ones, still replays through the invariant.
"$PY" fuzz/smoke.py --seconds 0 --stateful-inputs 0 || failed+=("corpus replay")
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz campaign: crashes in: ${failed[*]} (reproducers in fuzz/corpus/<target>/crash-*)"
  exit 1
fi
echo "fuzz campaign: no new crash"

#!/usr/bin/env bash
# A longer fuzz campaign in one command: every target in turn, coverage-guided with atheris
# when it imports, else the Hypothesis fallback. Crashes land in fuzz/corpus/<target>/crash-*.
#
#   bash fuzz/campaign.sh              # 300 s per target
#   SECONDS_PER_TARGET=60 bash fuzz/campaign.sh echonet_frame j11_stream
#   FALLBACK=1 bash fuzz/campaign.sh   # force the Hypothesis fallback
#
# atheris is not a project dependency: `.venv/bin/pip install atheris` (a manylinux wheel,
# no clang needed on x86-64 Linux with CPython 3.11) to get coverage guidance.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PER=${SECONDS_PER_TARGET:-300}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(echonet_frame echonet_typed echonet_property skstack_line skstack_stream
           skstack_command j11_frame j11_stream j11_message broute_input echonet_session
           echonet_node)
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "${FALLBACK:-}" ] && "$PY" -c "import atheris" 2>/dev/null; then
  MODE=atheris
else
  MODE=fallback
fi
echo "fuzz campaign: ${#TARGETS[@]} targets, ${PER} s each, mode ${MODE}"
failed=()
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
# Every reproducer found, plus the known ones, still replays through the invariant.
"$PY" fuzz/smoke.py --seconds 0 || failed+=("corpus replay")
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz campaign: crashes in: ${failed[*]} (reproducers in fuzz/corpus/<target>/crash-*)"
  exit 1
fi
echo "fuzz campaign: no new crash"

#!/usr/bin/env bash
# ECHONET Lite interop in one command: install the pinned peers under
# interop/.work/ (gitignored) and run the interop scripts against our stack.
#
#   interop/run_echonet.sh            # venv + npm dir created on first use
#   INTEROP_PYTHON=.venv/bin/python interop/run_echonet.sh   # use an existing env
#
# Exits non-zero if any script reports a disagreement or cannot run.
# All traffic stays on 127.36.10.10-18 (loopback), UDP port 3610/23610.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
WORK="$HERE/.work"
PYCHONET_VERSION="$(sed -n 's/^PYCHONET_VERSION: Final = "\(.*\)"$/\1/p' "$HERE/echonet_pychonet.py")"
NPM_DIR="$WORK/npm"
mkdir -p "$WORK"

# ---------------------------------------------------------------- Python side
if [[ -n "${INTEROP_PYTHON:-}" ]]; then
    PY="$INTEROP_PYTHON"
else
    VENV="$WORK/venv"
    if [[ ! -x "$VENV/bin/python" ]]; then
        "${PYTHON:-python3}" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { echo "need Python >= 3.11 (set PYTHON=...)" >&2; exit 2; }
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    PY="$VENV/bin/python"
fi
if ! "$PY" - "$PYCHONET_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import smartmeter_proto  # noqa: F401
sys.exit(version("pychonet") != sys.argv[1])
EOF
then
    echo "installing pychonet==$PYCHONET_VERSION and smartmeter-proto (editable) into $("$PY" -c 'import sys; print(sys.prefix)')"
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT" "pychonet==$PYCHONET_VERSION"
fi

# ------------------------------------------------------------------- npm side
command -v node >/dev/null || { echo "node is not installed" >&2; exit 2; }
wanted="$(node -p "JSON.stringify(require('$HERE/package.json').dependencies)")"
have="$(node -p "
  const fs = require('fs');
  const deps = require('$HERE/package.json').dependencies;
  const got = {};
  for (const name of Object.keys(deps)) {
    const f = '$NPM_DIR/node_modules/' + name + '/package.json';
    got[name] = fs.existsSync(f) ? JSON.parse(fs.readFileSync(f)).version : null;
  }
  JSON.stringify(got)")"
if [[ "$wanted" != "$have" ]]; then
    echo "installing $wanted into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    cp "$HERE/package.json" "$NPM_DIR/package.json"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error
fi

# ------------------------------------------------------------------------ run
status=0
for script in echonet_pychonet.py echonet_classes.py echonet_npm.py echonet_classes_npm.py; do
    start=$EPOCHREALTIME
    if ECHONET_NPM_DIR="$NPM_DIR" PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" \
        "$PY" "$HERE/$script"; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    awk -v s="$script" -v r="$result" -v a="$start" -v b="$EPOCHREALTIME" \
        'BEGIN { printf "%s: %s in %.1f s\n", s, r, b - a }'
done
exit "$status"

#!/usr/bin/env bash
# The package as users get it: build the wheel and the sdist, check both carry LICENSE,
# install the wheel into a fresh venv and run its command line, then install the sdist with
# the "test" extra into another fresh venv and run the sdist's own test suite from its
# unpacked directory (against the installed package, not the source tree).
#
#   bash interop/package_check.sh            # PYTHON: interpreter with pip and build
#                                            # (default .venv/bin/python, else python3)
#   PYTEST_ARGS="-x" bash interop/package_check.sh   # stop at the first failure
#   KEEP=1 bash interop/package_check.sh     # keep the work directory for a look
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
# pyproject's addopts already give -q; -rs lists every skip with its reason.
read -r -a pytest_args <<<"${PYTEST_ARGS:--rs -p no:randomly}"
work=$(mktemp -d "${TMPDIR:-/tmp}/package-check.XXXXXX")
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$work"' EXIT; else echo "work directory: $work"; fi
started=$SECONDS

step() { echo "== package check: $*"; }
fail() { echo "package check FAILED: $*" >&2; exit 1; }

step "build the wheel (pip wheel) and the sdist (python -m build)"
"$PYTHON" -m pip wheel -q --no-deps -w "$work/dist" .
"$PYTHON" -m build -q --sdist --outdir "$work/dist" . >/dev/null
wheels=("$work"/dist/smartmeter_proto-*.whl)
sdists=("$work"/dist/smartmeter_proto-*.tar.gz)
[[ ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] || fail "expected one wheel in $work/dist"
[[ ${#sdists[@]} -eq 1 && -f ${sdists[0]} ]] || fail "expected one sdist in $work/dist"
wheel=${wheels[0]} sdist=${sdists[0]}
echo "   $(basename "$wheel"), $(basename "$sdist")"

step "LICENSE in the wheel's dist-info and at the sdist's root; the sdist carries what tests read"
"$PYTHON" - "$wheel" "$sdist" <<'EOF'
import sys
import tarfile
import zipfile

wheel, sdist = sys.argv[1:]
in_wheel = zipfile.ZipFile(wheel).namelist()
licenses = [n for n in in_wheel if ".dist-info/licenses/" in n and n.endswith("/LICENSE")]
assert licenses, f"no dist-info/licenses/LICENSE in {wheel}"
specs = [n for n in in_wheel if n.startswith("smartmeter_proto/specs/")]
assert specs, "the wheel has no smartmeter_proto/specs/"
with tarfile.open(sdist) as tar:
    names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
wanted = ["LICENSE", "pyproject.toml", "tests/test_fuzz_corpus.py", "fuzz/_harness.py",
          "fuzz/known_crashes.txt", "interop/echonet_pychonet.py", "tests/vectors/j11/frames.json",
          "specs/cosem/control.yaml"]
missing = [n for n in wanted if n not in names]
assert not missing, f"the sdist lacks {missing}"
assert any(n.startswith("fuzz/corpus/") for n in names), "the sdist lacks fuzz/corpus/"
print(f"   wheel: {licenses[0]}; sdist: {len(names)} files")
EOF

step "the wheel in a fresh venv (no extras): import, metadata, command line"
"$PYTHON" -m venv "$work/venv-wheel"
"$work/venv-wheel/bin/pip" install -q "$wheel"
(cd "$work" && "$work/venv-wheel/bin/python" - <<'EOF'
from importlib import metadata

import smartmeter_proto

dist = metadata.distribution("smartmeter-proto")
assert dist.metadata["License-Expression"] == "MIT", dist.metadata["License-Expression"]
assert any(str(f).endswith("licenses/LICENSE") for f in dist.files or []), "LICENSE not installed"
assert "site-packages" in smartmeter_proto.__file__, smartmeter_proto.__file__
print(f"   smartmeter-proto {dist.version} from {smartmeter_proto.__file__}")
EOF
)
"$work/venv-wheel/bin/smartmeter-proto" --help >/dev/null

step "the sdist with [test] in a fresh venv, its test suite from the unpacked directory"
tar -xzf "$sdist" -C "$work"
unpacked=("$work"/smartmeter_proto-*/)
[[ -f ${unpacked[0]}pyproject.toml ]] || fail "the sdist did not unpack to one directory"
"$PYTHON" -m venv "$work/venv-sdist"
"$work/venv-sdist/bin/pip" install -q "$sdist[test]"
suite_started=$SECONDS
(cd "${unpacked[0]}" && "$work/venv-sdist/bin/python" -m pytest "${pytest_args[@]}")
echo "   test suite: $((SECONDS - suite_started)) s"

step "passed in $((SECONDS - started)) s"

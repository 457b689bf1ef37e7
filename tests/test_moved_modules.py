"""Old module paths keep importing for one release, with a warning naming the new path."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys

import pytest

from smartmeter_proto.moved_modules import MOVED, RENAMED

PREFIX = "smartmeter_proto."


def _fresh(name: str) -> None:
    sys.modules.pop(name, None)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_warns_and_gives_the_new_objects(old: str) -> None:
    _fresh(PREFIX + old)
    with pytest.warns(DeprecationWarning, match="moved to"):
        module = importlib.import_module(PREFIX + old)
    news = (MOVED[old],) if isinstance(MOVED[old], str) else MOVED[old]
    for new in news:
        target = importlib.import_module(PREFIX + new)
        public = getattr(target, "__all__", None) or [
            n for n in vars(target) if not n.startswith("_")
        ]
        for name in public:
            assert getattr(module, name) is getattr(target, name), (old, name)
    for (where, name), now in RENAMED.items():
        if where == old:
            assert getattr(module, name) is getattr(module, now)


def test_the_table_names_modules_that_exist_and_no_old_path_is_a_file() -> None:
    for old, new in MOVED.items():
        assert importlib.util.find_spec(PREFIX + old) is not None
        for target in (new,) if isinstance(new, str) else new:
            importlib.import_module(PREFIX + target)
    # The old paths must not shadow the finder with a real module left behind.
    for old in MOVED:
        spec = importlib.util.find_spec(PREFIX + old)
        assert spec is not None, old
        assert spec.origin is None, old


def test_a_from_import_of_an_old_path_works_in_a_fresh_interpreter() -> None:
    code = (
        "import warnings; warnings.simplefilter('error');\n"
        "try:\n"
        "    from smartmeter_proto.wisun.skstack_messages import decode_line\n"
        "except DeprecationWarning as w: print('warned:', w)\n"
        "warnings.simplefilter('ignore')\n"
        "from smartmeter_proto.wisun.skstack_messages import decode_line\n"
        "from smartmeter_proto.wisun.skstack import decode_line as new\n"
        "print(decode_line is new)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "warned: smartmeter_proto.wisun.skstack_messages moved to" in out
    assert out.strip().endswith("True")

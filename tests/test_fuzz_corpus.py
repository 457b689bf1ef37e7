"""Replay every fuzz corpus file (fuzz/corpus/<target>/) through its target's invariant.

The invariant is fuzz/_harness.py ``check``: a value or a DecodeError (state machines:
never an exception), within a time and tracemalloc budget linear in the input size.
Seeds come from tests/vectors (sources named in their READMEs) and emulated sessions;
reproducers listed in fuzz/known_crashes.txt are skipped with their one-line reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
if str(FUZZ_DIR) not in sys.path:
    sys.path.insert(0, str(FUZZ_DIR))

from _harness import (  # noqa: E402
    TARGET_NAMES,
    Crash,
    check,
    corpus_files,
    get_target,
    known_crashes,
)

KNOWN = {(k.target, k.file): k.reason for k in known_crashes()}
#: A known bug may show on other files too (the typed decoder's shape cache is global).
KNOWN_SIGNATURES = {(k.target, k.signature): k.reason for k in known_crashes()}


#: The peers each differential target runs against (the ``interop`` extra).
DIFF_PEERS = {
    "diff_axdr": ("gurux_dlms", "dlms_cosem"),
    "diff_cose": ("pycose", "cbor2"),
    "diff_lowpan": ("scapy",),
}


def _peers_missing(name: str) -> str | None:
    """Why a differential target cannot run here (its peers are the ``interop`` extra)."""
    if not name.startswith("diff_"):
        return None
    for module in DIFF_PEERS[name]:
        try:
            __import__(module)
        except ImportError:
            return f"{module} not installed (the interop extra)"
    return None


def _cases() -> list[object]:
    cases: list[object] = []
    for name in TARGET_NAMES:
        missing = _peers_missing(name)
        for path in corpus_files(name):
            reason = KNOWN.get((name, path.name))
            marks = [pytest.mark.skip(reason=f"known crash: {reason}")] if reason else []
            if missing:
                marks.append(pytest.mark.skip(reason=missing))
            cases.append(pytest.param(name, path, marks=marks, id=f"{name}/{path.name}"))
    return cases


@pytest.mark.parametrize(("target", "path"), _cases())
def test_corpus_file_keeps_the_invariant(target: str, path: Path) -> None:
    try:
        check(get_target(target), path.read_bytes(), memory=True)
    except Crash as crash:
        reason = KNOWN_SIGNATURES.get((target, crash.signature))
        if reason is not None:
            pytest.xfail(f"known crash {crash.signature}: {reason}")
        pytest.fail(crash.report(), pytrace=False)


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_every_target_has_seeds(target: str) -> None:
    assert len(corpus_files(target)) >= 3


def test_every_differential_target_names_its_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {n for n in TARGET_NAMES if n.startswith("diff_")} == set(DIFF_PEERS)
    assert _peers_missing("lowpan_frame") is None
    monkeypatch.setitem(DIFF_PEERS, "diff_lowpan", ("no_such_peer_module", "scapy"))
    assert _peers_missing("diff_lowpan") == "no_such_peer_module not installed (the interop extra)"


def test_known_crashes_name_existing_reproducers() -> None:
    for crash in known_crashes():
        assert crash.target in TARGET_NAMES
        assert (FUZZ_DIR / "corpus" / crash.target / crash.file).is_file(), crash.file
        assert crash.file.startswith("known-"), crash.file


def test_the_harness_catches_what_escapes() -> None:
    from dataclasses import replace

    target = get_target("j11_frame")

    def broken(data: bytes) -> object:
        return data[100]

    with pytest.raises(Crash, match="IndexError"):
        check(replace(target, call=broken), b"")
    # The real decoder: garbage is a DecodeError, which the invariant accepts.
    assert check(target, b"\x00" * 12) is None


def test_known_crashes_file_format(tmp_path: Path) -> None:
    listing = tmp_path / "known.txt"
    listing.write_text(
        "# comment\n\nj11_frame/known-00 | IndexError@smartmeter_proto/wisun/j11.py:decode | x\n"
    )
    (entry,) = known_crashes(listing)
    assert (entry.target, entry.file, entry.reason) == ("j11_frame", "known-00", "x")
    assert entry.signature == "IndexError@smartmeter_proto/wisun/j11.py:decode"
    listing.write_text("j11_frame/known-00 | no reason\n")
    with pytest.raises(ValueError, match="expected"):
        known_crashes(listing)


@pytest.mark.parametrize("subject", ["echonet_node", "iot_headend", "dlms_association"])
def test_stateful_harness_stays_within_its_budget(subject: str) -> None:
    """One object through 600 mutants (fuzz/stateful.py): nothing escapes, growth in budget."""
    import stateful

    result = stateful.run(stateful.SUBJECTS[subject], inputs=600, seed=1)
    assert result.failure is None, result.failure
    assert result.growth <= result.budget


def test_iot_headend_forgets_unanswered_backfill_requests() -> None:
    """fuzz/stateful.py found HeadEnd._requests growing by one entry per retried request."""
    import stateful

    result = stateful.run(stateful.SUBJECTS["iot_headend"], inputs=3000, seed=0)
    assert result.failure is None, result.failure
    assert result.growth < 64 * 1024  # ~190 KiB per 1 800 inputs before the bound

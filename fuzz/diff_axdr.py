"""Differential: one A-XDR Data into ours, gurux-dlms and dlms-cosem; same verdict and value.

``aroute.axdr.decode_data`` against gurux's ``_GXCommon.getData`` (complete and every byte
consumed) and dlms-cosem's ``DlmsDataParser`` (one value). Both accept: the values compare
through the canonical forms of ``interop/dlms_peers_adapters.py``. A disagreement is counted
under its peer quirk when one explains it (``QUIRKS`` there, ``PEER_QUIRKS`` and our
documented limits ``OUR_LIMITS`` below); any other disagreement is a crash. ``OUTCOMES``
counts every verdict (``campaign.py`` prints them).

Needs the ``interop`` extra (gurux-dlms, dlms-cosem). Input: one A-XDR Data.
Run ``python fuzz/diff_axdr.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Final

from _harness import Target, main

INTEROP = Path(__file__).resolve().parents[1] / "interop"

#: Peer behaviour met by fuzzing, beyond interop's QUIRKS (peer versions of pyproject.toml).
PEER_QUIRKS: Final = {
    "gx-visible-hex": "gurux GXByteBuffer.getString returns a hex dump unless every byte is "
    "NUL or 32..127 (isAsciiString compares ints with '\\r', '\\n', '\\t': always unequal), "
    "and strips trailing NULs (ours: latin-1, lossless); the same for utf8-string",
    "gx-compact-loop": "gurux _GXCommon.getCompactArray loops for ever on a compact array whose "
    "description has zero size (13 02 02 00 01 01 61 ...): gurux gets no input with a "
    "compact-array tag (0x13) in it",
    "dc-visible-ascii": "dlms-cosem dlms_data.py VisibleStringData decodes ASCII: "
    "UnicodeDecodeError for a byte >= 0x80",
    "peer-datetime-range": "both peers build Python date/time objects: a field out of range "
    "that is no wildcard (hour 0x82, day 31 in April, year above 9999) raises ValueError; "
    "ours keeps the octets",
    "gx-year-1900": "gurux _GXCommon.getDateTime/getDate: a year below 1900 is taken as not "
    "specified (skip YEAR, year 2000)",
    "peer-deviation-range": "both peers turn the deviation into a Python tzinfo: one beyond "
    "the Blue Book range -720..720 minutes does not come back as it was",
    "dc-date-no-dow": "dlms-cosem time.py date_from_bytes ignores the day-of-week octet",
    "dc-runaway": "dlms-cosem DlmsDataParser does not stop at the end of its buffer: an "
    "array count above the elements present (0x01 0x84 FFFFFFF9) or a cut value allocates "
    "for ~30 s into MemoryError; so dlms-cosem only gets the inputs ours accepts",
}
#: Where ours refuses on purpose what a peer reads (documented limits of aroute/axdr.py).
OUR_LIMITS: Final = {
    "nesting deeper than max_depth": "ours-max-depth",
    "is not valid UTF-8": "ours-strict-utf8",
    "values per element": "ours-compact-weight",
}

OUTCOMES: Counter[str] = Counter()


def _peers() -> tuple[Any, Any, Any]:
    if str(INTEROP) not in sys.path:
        sys.path.insert(0, str(INTEROP))
    import dlms_peers_adapters as adapters

    return adapters, adapters.Gurux(), adapters.Cosem()


def _calendar_invalid(value: object) -> bool:
    """A date/time field out of range and not a wildcard or special value (Blue Book 4.1.6.1)."""
    special = (0xFD, 0xFE, 0xFF)
    year, month, day = (getattr(value, name, None) for name in ("year", "month", "day"))
    if month is not None and not (1 <= month <= 12 or month in special):
        return True
    if day is not None and not (1 <= day <= 31 or day in special):
        return True
    if year is not None and year != 0xFFFF and not 1 <= year <= 9999:  # Python's datetime
        return True
    if year is not None and year != 0xFFFF and 1 <= month <= 12 and 1 <= day <= 31:  # type: ignore[operator]
        try:
            dt.date(max(1, year), month, day)  # type: ignore[arg-type]
        except ValueError:
            return True
    for name, top in (("hour", 23), ("minute", 59), ("second", 59), ("hundredths", 99)):
        v = getattr(value, name, None)
        if v is not None and v > top and v != 0xFF:
            return True
    return False


def _gx_mangles(text: str) -> bool:
    """Whether gurux's getString turns ``text`` into a hex dump or strips its end."""
    return text.endswith("\x00") or any(not (32 <= ord(c) <= 127 or c == "\x00") for c in text)


def _walk(d: Any) -> list[Any]:
    out = [d]
    if d.type.name in ("ARRAY", "STRUCTURE"):
        for item in d.value:
            out += _walk(item)
    return out


def build() -> Target:
    import resource

    from smartmeter_proto.aroute import axdr
    from smartmeter_proto.errors import DecodeError

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:  # a peer's runaway allocation: MemoryError, not OOM
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, hard))
    adapters, gx, dc = _peers()
    from dlms_peers_sample import canon

    def gurux(data: bytes) -> object:
        buf = gx.g.GXByteBuffer(data)
        info = gx.info()
        with contextlib.redirect_stdout(io.StringIO()):
            value = gx.common.getData(gx.settings, buf, info)
        if not info.complete or buf.position != len(data):
            raise ValueError("gurux: incomplete or trailing bytes")
        return value

    def quirk(peer: str, d: Any, exc: BaseException | None) -> str | None:
        named = (adapters.gurux_quirk if peer == "gx" else adapters.cosem_quirk)(d, "decode")
        if named:
            return str(named)
        items = _walk(d)
        texts = [x for x in items if x.type.name in ("VISIBLE_STRING", "UTF8_STRING")]
        if peer == "gx" and any(_gx_mangles(x.value) for x in texts):
            return "gx-visible-hex"
        if peer == "dc" and any(not x.value.isascii() for x in texts):
            return "dc-visible-ascii"
        if any(_calendar_invalid(x.value) for x in items):
            return "peer-datetime-range"
        if peer == "gx" and any(getattr(x.value, "year", 1900) < 1900 for x in items):
            return "gx-year-1900"
        if any(
            getattr(x.value, "deviation", 0) not in range(-720, 721)
            and getattr(x.value, "deviation", 0) != -0x8000
            for x in items
        ):
            return "peer-deviation-range"
        if peer == "dc" and any(x.type.name == "DATE" for x in items) and exc is None:
            return "dc-date-no-dow"
        return None

    def call(data: bytes) -> object:
        try:
            ours = axdr.decode_data(data)
            reason = ""
        except DecodeError as exc:
            ours, reason = None, exc.reason
        verdicts: list[str] = []
        for peer, decode, their_canon, expected in (
            ("gx", gurux, gx.canon, canon),
            ("dc", dc.decode, dc.canon, adapters.Cosem.expected),
        ):
            if peer == "gx" and (
                b"\x13" in data
                if ours is None
                else any(x.type.name == "COMPACT_ARRAY" for x in _walk(ours))
            ):
                OUTCOMES["gx:gx-compact-loop"] += 1  # not run: see PEER_QUIRKS
                verdicts.append("gx-compact-loop")
                continue
            if peer == "dc" and ours is None:
                OUTCOMES["dc:dc-runaway"] += 1  # not run: see PEER_QUIRKS
                verdicts.append("dc-runaway")
                continue
            try:
                theirs, failed = decode(data), None
            except Exception as exc:
                theirs, failed = None, exc
            if ours is None and failed is not None:
                verdict = "agree-reject"
            elif ours is None:
                limit = next((v for k, v in OUR_LIMITS.items() if k in reason), None)
                if limit is None:
                    raise AssertionError(f"{peer} reads {theirs!r:.60}; we refuse: {reason}")
                verdict = limit
            elif failed is not None:
                named = quirk(peer, ours, failed)
                if named is None:
                    raise AssertionError(f"{peer} refuses {ours!r:.100}: {failed!r:.100}")
                verdict = named
            else:
                try:
                    same = their_canon(theirs) == expected(ours)
                except Exception:
                    same = False
                named = None if same else quirk(peer, ours, None)
                if not same and named is None:
                    raise AssertionError(f"{peer} reads {theirs!r:.100}, we {ours!r:.100}")
                verdict = "agree" if same else str(named)
            OUTCOMES[f"{peer}:{verdict}"] += 1
            verdicts.append(verdict)
        return verdicts

    return Target("diff_axdr", call, (), "bytes")


if __name__ == "__main__":
    sys.exit(main("diff_axdr"))

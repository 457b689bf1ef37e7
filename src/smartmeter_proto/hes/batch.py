"""Batch decode and validation of captured A-route push traffic on a Dask cluster.

Input: capture Parquet file(s) of :mod:`~smartmeter_proto.hes.batch_io` (``received_at``
float64 POSIX s, ``source`` string ``"host:port"``, ``datagram`` binary: one DLMS UDP
wrapper PDU as received). Output: ``readings/``, ``events/`` and ``rejected/`` Parquet
datasets in ``out_dir`` (schemas in :mod:`~smartmeter_proto.hes.batch_io`).

How the job runs (:func:`decode_captures`), as a plain task graph (no DataFrame shuffle):

1. One *split* task per slice of the input (a file, or a run of its row groups when there
   are fewer files than cluster threads) reads its rows with pyarrow and gives each one a
   ``meter`` key: the sender's system title read in place from the wrapper and
   general-glo-ciphering headers (bytes 10..17 when byte 8 is the 0xDB tag and byte 9 the
   title length 8; any other layout goes through :func:`push_title`), None when there is
   no 8-byte title. The key only decides where a row is decoded, never how.
2. The task cuts its rows into ``partitions`` Arrow tables by a stable hash of the key
   (CRC-32), so every row of one meter lands in one bucket, whichever file or collector it
   came from: replay validation needs the whole history of a meter in one place. Title-less
   rows share bucket 0, as rejected rows. Arrow tables travel between worker processes
   as flat buffers (pickle protocol 5), far cheaper than object columns.
3. One *decode* task per bucket (pure Python, GIL-bound: run 1 thread per worker process)
   concatenates its pieces, orders each meter's rows by ``received_at`` (stable: ties keep
   capture order) and runs them through :func:`decode_group`, which verifies, deciphers and
   decodes each datagram with :func:`~smartmeter_proto.hes.push.open_push_datagram` and
   checks its invocation counter with one
   :class:`~smartmeter_proto.aroute.security.InvocationCounters` per group.
4. The task writes its own ``part-NNNNN.parquet`` of each output (a single pass over the
   data) and returns its counts; :class:`BatchSummary` adds them up. ``out_dir`` must
   therefore be a path every worker can write (local or shared disk). The keys are
   broadcast to every worker once, before the graph runs.

Classification of a row (:class:`RejectReason`): ``malformed`` (the wrapper or ciphering
header does not parse, no 8-byte sender title, or a verified push whose content does not
decode or does not fit int64), ``unknown_meter`` (no keys for the title), ``forged`` (does
not prove its origin: the tag does not verify, a security control without authentication,
an unciphered data-notification, or a verified push naming another meter), ``replayed``
(verified, but its invocation counter was already accepted or is older than the window),
``not_a_push`` (a well-formed wrapper datagram carrying something else than
general-glo-ciphering: a capture taken at the head end also holds the meters' answers to
its back-fill requests). The tag is checked BEFORE the counter (``open_push_datagram``
without counters, then ``InvocationCounters.accept``), so a tampered copy of an earlier
datagram is ``forged``, not ``replayed``, and only verified counters enter the window.

Replay window (:data:`REPLAY_WINDOW` = 16): a meter's counter rises by one per push in send
order, so counters reach the head end out of order only when the network reorders them.
Pushes leave at most ``MAX_PUSH_DELAY_S`` after the period end and must arrive within the
60-minute deadline (:mod:`smartmeter_proto.sim.ameter`), leaving the network 10 minutes, in
which a meter pushing 5- and 30-minute values sends at most 4 pushes. 16 covers that with
margin (store-and-forward concentrators, a Last Gasp and restoration pair) and is still at
least 70 minutes of a 5-minute meter's traffic, beyond the deadline; a copy of a push
already accepted is refused whatever its age (the window's bitmap below the top, "older than
the window" beyond it). ``window=0`` gives the strict "greater than the last" rule.

Re-sends: a verified push with a fresh counter carrying a (meter, period, period_end) that
this group already produced is authentic but redundant; it is dropped and counted in
``BatchSummary.duplicates`` (first received wins), so ``readings`` holds one row per
(system_title, period, period_end). Power events are de-duplicated the same way on
(system_title, kind, at).
"""

from __future__ import annotations

import importlib
import math
import os
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import groupby
from typing import TYPE_CHECKING, Any, Final

from ..aroute import wrapper
from ..aroute.security import SYSTEM_TITLE_LENGTH, InvocationCounters, decode_ciphered
from ..errors import AuthError, DecodeError
from .batch_io import (
    CAPTURE_COLUMNS,
    DATAGRAM,
    EVENTS,
    READINGS,
    RECEIVED_AT,
    REJECTED,
    SOURCE,
    CaptureRow,
    clear_outputs,
    write_part,
)
from .parquet_store import PARTITIONING, READINGS_DIR
from .push import MeterKeys, PowerEvent, ValueReading, open_push_datagram

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "REPLAY_WINDOW",
    "BatchSummary",
    "GroupOutcome",
    "RejectReason",
    "decode_captures",
    "decode_group",
    "decode_partition",
    "meter_key",
    "push_title",
    "read_store",
    "split_capture",
]

#: Invocation counters accepted below the highest one seen (see the module text).
REPLAY_WINDOW: Final = 16
#: Bucket key column added to the capture rows (the sender's system title, or None).
METER: Final = "meter"
_LAYER: Final = "hes-batch"
#: Shuffle partitions per worker thread by default: meters hash unevenly into partitions and
#: partitions land unevenly on workers; a few per thread evens both out (bench_dask.py).
_PARTS_PER_THREAD: Final = 4
#: general-glo-ciphering: the only APDU a push travels in (hes.push).
_GENERAL_GLO: Final = b"\xdb"
#: data-notification in clear (IEC 62056-5-3 xDLMS tag 15): a push without protection.
_DATA_NOTIFICATION: Final = b"\x0f"
#: general-glo-ciphering tag then the system title's length (8): where a push's title sits,
#: right after the 8-byte wrapper header (Green Book, DLMS UDP wrapper; IEC 62056-5-3).
_GLO_TITLE_HEAD: Final = b"\xdb\x08"
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class RejectReason(StrEnum):
    """The ``reason`` column of ``rejected`` (module text)."""

    MALFORMED = "malformed"
    UNKNOWN_METER = "unknown_meter"
    FORGED = "forged"
    REPLAYED = "replayed"
    NOT_A_PUSH = "not_a_push"


def push_title(datagram: object) -> bytes | None:
    """The sender's system title from the wrapper + ciphering headers (no keys), or None."""
    if not isinstance(datagram, bytes | bytearray):
        return None
    try:
        title = decode_ciphered(wrapper.decode(bytes(datagram)).apdu).system_title
    except DecodeError:
        return None
    return title if title is not None and len(title) == SYSTEM_TITLE_LENGTH else None


@dataclass(slots=True)
class GroupOutcome:
    """What :func:`decode_group` made of its rows, as rows of the three output schemas."""

    readings: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[tuple[Any, ...]] = field(default_factory=list)
    duplicates: int = 0
    meters: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        out = {
            "datagrams": len(self.readings)
            + len(self.events)
            + len(self.rejected)
            + self.duplicates,
            READINGS: len(self.readings),
            EVENTS: len(self.events),
            "duplicates": self.duplicates,
            "meters": len(self.meters),
        }
        out.update(dict.fromkeys(RejectReason, 0))
        for row in self.rejected:
            out[row[3]] += 1
        return out


def _reject(
    out: GroupOutcome,
    row: CaptureRow,
    title: bytes | None,
    reason: RejectReason,
    message: str,
    error: DecodeError | None = None,
) -> None:
    out.rejected.append(
        (
            row.received_at,
            row.source,
            None if title is None else title.hex().upper(),
            str(reason),
            None if error is None else error.layer,
            None if error is None else error.offset,
            message,
        )
    )


def _in_int64(values: Iterable[int]) -> bool:
    return all(_INT64_MIN <= v <= _INT64_MAX for v in values)


class _KeyLookup:
    """``keys.get`` that remembers the title it was asked for (None: never asked)."""

    __slots__ = ("asked", "keys")

    def __init__(self, keys: Mapping[bytes, MeterKeys]) -> None:
        self.keys = keys
        self.asked: bytes | None = None

    def __call__(self, title: bytes) -> MeterKeys | None:
        self.asked = title
        return self.keys.get(title)


def decode_group(
    rows: Iterable[CaptureRow], keys: Mapping[bytes, MeterKeys], *, window: int = REPLAY_WINDOW
) -> GroupOutcome:
    """Classify and decode ``rows`` in the order given (one meter's, by received_at).

    Rows of several meters may be mixed (counters are kept per title), but all rows of a
    meter must be in one call for replay validation to hold. Never raises on row content.
    """
    out = GroupOutcome()
    counters = InvocationCounters(window)
    seen: set[tuple[Any, ...]] = set()
    lookup = _KeyLookup(keys)
    for row in rows:
        datagram = bytes(row.datagram) if isinstance(row.datagram, bytes | bytearray) else b""
        lookup.asked = None
        try:
            apdu = wrapper.decode(datagram).apdu
        except DecodeError as exc:
            _reject(out, row, None, RejectReason.MALFORMED, str(exc), exc)
            continue
        if apdu[:1] == _DATA_NOTIFICATION:
            _reject(
                out,
                row,
                None,
                RejectReason.FORGED,
                "unciphered data-notification: nothing proves its sender",
            )
            continue
        if apdu[:1] != _GENERAL_GLO:  # an answer to a head-end request, captured alongside
            _reject(
                out,
                row,
                None,
                RejectReason.NOT_A_PUSH,
                f"not a push: APDU tag 0x{apdu[0]:02X}" if apdu else "not a push: no APDU",
            )
            continue
        try:  # the tag first (counters=None), the counter next: a tampered copy is "forged"
            opened = open_push_datagram(datagram, lookup, None)
        except DecodeError as exc:  # before the lookup: wrapper or ciphering header
            _reject(out, row, lookup.asked, RejectReason.MALFORMED, str(exc), exc)
            continue
        except AuthError as exc:
            title = lookup.asked
            if title is None:  # refused before any key lookup: no 8-byte sender title
                error = DecodeError(_LAYER, 0, "a push must carry its sender's system title")
                _reject(out, row, None, RejectReason.MALFORMED, str(error), error)
            elif title not in keys:
                _reject(
                    out,
                    row,
                    title,
                    RejectReason.UNKNOWN_METER,
                    f"unknown meter {title.hex().upper()}",
                )
            else:
                _reject(out, row, title, RejectReason.FORGED, str(exc))
            continue
        try:
            counters.accept(opened.system_title, opened.invocation_counter)
        except AuthError as exc:
            _reject(out, row, opened.system_title, RejectReason.REPLAYED, str(exc))
            continue
        _record(out, row, opened.invocation_counter, opened.record, seen)
    return out


def _record(
    out: GroupOutcome,
    row: CaptureRow,
    ic: int,
    record: ValueReading | PowerEvent,
    seen: set[tuple[Any, ...]],
) -> None:
    title = record.system_title.hex().upper()
    if isinstance(record, ValueReading):
        # Register values were checked where the push was decoded (hes.push refuses one
        # beyond signed 64 bits); the capture time is the Parquet column's to check.
        if not _in_int64((record.period_end,)):
            error = DecodeError(_LAYER, 0, "a capture time does not fit in int64")
            _reject(out, row, record.system_title, RejectReason.MALFORMED, str(error), error)
            return
        key: tuple[Any, ...] = (title, record.period, record.period_end)
        if key in seen:
            out.duplicates += 1
            return
        seen.add(key)
        out.readings.append(
            (
                title,
                record.period,
                record.period_end,
                list(record.values),
                ic,
                row.received_at,
                row.received_at - record.period_end,
            )
        )
    else:
        if not _in_int64((record.at,)):
            error = DecodeError(_LAYER, 0, "an event time does not fit in int64")
            _reject(out, row, record.system_title, RejectReason.MALFORMED, str(error), error)
            return
        key = (title, record.kind, record.at)
        if key in seen:
            out.duplicates += 1
            return
        seen.add(key)
        out.events.append((title, record.kind.name, record.at, ic, row.received_at))
    out.meters.add(title)


def meter_key(datagram: object) -> bytes | None:
    """The key a capture row is bucketed on: :func:`push_title`, read in place when the
    datagram has the usual layout (module text, step 1). Equal to :func:`push_title`
    whenever that gives a title, so a meter's rows always share a key."""
    if isinstance(datagram, bytes) and datagram[8:10] == _GLO_TITLE_HEAD and len(datagram) >= 18:
        return datagram[10:18]
    return push_title(datagram)


def _bucket_of(title: bytes | None, buckets: int) -> int:
    """A stable bucket (the same in every process, unlike ``hash``): CRC-32 of the title."""
    return 0 if title is None else zlib.crc32(title) % buckets


def split_capture(path: str, row_groups: Sequence[int] | None, buckets: int) -> tuple[Any, ...]:
    """One split task (module text): ``row_groups`` of the capture file at ``path`` (None:
    all) as ``buckets`` Arrow tables with the ``meter`` key column, a meter in one only."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    source = pq.ParquetFile(path)
    table = (
        source.read(columns=list(CAPTURE_COLUMNS))
        if row_groups is None
        else source.read_row_groups(list(row_groups), columns=list(CAPTURE_COLUMNS))
    )
    keys = [meter_key(d) for d in table.column(DATAGRAM).to_pylist()]
    table = table.append_column(METER, pa.array(keys, pa.binary()))
    cache: dict[bytes | None, int] = {}
    members: list[list[int]] = [[] for _ in range(buckets)]
    for i, key in enumerate(keys):
        bucket = cache.get(key)
        if bucket is None:
            bucket = cache[key] = _bucket_of(key, buckets)
        members[bucket].append(i)
    return tuple(table.take(pa.array(rows, pa.int64())) for rows in members)


def _column(frame: Any, name: str) -> list[Any]:
    """A column of an Arrow table (or a pandas frame) as Python objects, missing as None."""
    if hasattr(frame, "column_names"):
        return list(frame.column(name).to_pylist())
    series = frame[name]
    present = series.notna().tolist()
    return [
        v if ok else None for v, ok in zip(series.astype(object).tolist(), present, strict=True)
    ]


def _columns(frame: Any) -> list[str]:
    return list(frame.column_names if hasattr(frame, "column_names") else frame.columns)


def decode_partition(
    frame: Any,
    keys: Mapping[bytes, MeterKeys],
    out_dir: str,
    index: int,
    window: int = REPLAY_WINDOW,
) -> dict[str, int]:
    """One decode task: decode a partition (an Arrow table or a pandas frame of capture
    rows, with or without the ``meter`` column) meter by meter, write its three parts."""
    received = [float("nan") if v is None else float(v) for v in _column(frame, RECEIVED_AT)]
    rows = [
        CaptureRow(r, s, d if isinstance(d, bytes) else b"")
        for r, s, d in zip(received, _column(frame, SOURCE), _column(frame, DATAGRAM), strict=True)
    ]
    meters = (
        _column(frame, METER)
        if METER in _columns(frame)
        else [meter_key(row.datagram) for row in rows]
    )
    # Per meter (title-less rows last), then received_at (NaN last: a total order); sorted()
    # is stable, so ties keep capture order.
    when = [r if r == r else math.inf for r in received]
    order = sorted(range(len(rows)), key=lambda i: (meters[i] is None, meters[i] or b"", when[i]))
    total = GroupOutcome()
    for _, members in groupby(order, key=lambda i: meters[i]):
        part = decode_group((rows[i] for i in members), keys, window=window)
        total.readings += part.readings
        total.events += part.events
        total.rejected += part.rejected
        total.duplicates += part.duplicates
        total.meters |= part.meters
    write_part(out_dir, READINGS, index, total.readings)
    write_part(out_dir, EVENTS, index, total.events)
    write_part(out_dir, REJECTED, index, total.rejected)
    return total.counts()


def _decode_bucket(
    pieces: Sequence[Any], keys: Mapping[bytes, MeterKeys], out_dir: str, index: int, window: int
) -> dict[str, int]:
    """One decode task over the pieces of bucket ``index`` from every split task."""
    import pyarrow as pa

    return decode_partition(pa.concat_tables(pieces), keys, out_dir, index, window)


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """Counts of one :func:`decode_captures` run; elapsed_s is wall time of the whole job."""

    datagrams: int
    readings: int
    events: int
    duplicates: int
    malformed: int
    unknown_meter: int
    forged: int
    replayed: int
    not_a_push: int
    meters: int
    partitions: int
    elapsed_s: float

    @property
    def rejected(self) -> int:
        return self.malformed + self.unknown_meter + self.forged + self.replayed + self.not_a_push

    @property
    def datagrams_per_s(self) -> float:
        return self.datagrams / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _paths(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(inputs, str | os.PathLike):
        return [os.fspath(inputs)]
    return [os.fspath(p) for p in inputs]


def _slices(paths: Sequence[str], wanted: int) -> list[tuple[str, list[int] | None]]:
    """(file, row groups) split units: whole files, or runs of row groups when there are
    fewer files than ``wanted`` tasks."""
    import pyarrow.parquet as pq

    per_file = -(-wanted // max(len(paths), 1))
    units: list[tuple[str, list[int] | None]] = []
    for path in paths:
        groups = pq.ParquetFile(path).metadata.num_row_groups
        if per_file <= 1 or groups <= 1:
            units.append((path, None))
            continue
        step = -(-groups // min(per_file, groups))
        units += [(path, list(range(g, min(g + step, groups)))) for g in range(0, groups, step)]
    return units


def decode_captures(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    keys: Mapping[bytes, MeterKeys],
    out_dir: str | os.PathLike[str],
    *,
    client: Client | None = None,
    n_workers: int = 2,
    partitions: int | None = None,
    window: int = REPLAY_WINDOW,
    timeout: float | None = None,
) -> BatchSummary:
    """Decode capture Parquet file(s) into ``out_dir`` on a Dask cluster (module text).

    ``client``: a connected :class:`distributed.Client` (any cluster whose workers can import
    this package and write ``out_dir``); None starts a LocalCluster of ``n_workers``
    processes with one thread each, closed at the end. ``partitions``: decode tasks (default:
    4 per cluster thread). ``timeout`` (s) bounds the wait for the decode tasks
    (TimeoutError).
    """
    from dask.delayed import delayed

    dist = importlib.import_module("distributed")  # partly typed: used as Any
    started = time.perf_counter()
    out = os.path.abspath(os.fspath(out_dir))
    clear_outputs(out)
    owned: tuple[Any, Any] | None = None
    if client is None:
        cluster = dist.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        owned = (dist.Client(cluster), cluster)
    cl: Any = client if owned is None else owned[0]
    try:
        threads = sum(cl.nthreads().values()) or 1
        n_parts = partitions or _PARTS_PER_THREAD * threads
        # One object on every worker (a bare dict would be scattered as one datum per key).
        shared = cl.scatter([dict(keys)], broadcast=True, hash=False)[0]
        split = delayed(split_capture, nout=n_parts, pure=True)
        pieces = [split(path, groups, n_parts) for path, groups in _slices(_paths(inputs), threads)]
        tasks = [
            delayed(_decode_bucket, pure=True)([p[i] for p in pieces], shared, out, i, window)
            for i in range(n_parts)
        ]
        futures = cl.compute(tasks)
        try:
            dist.wait(futures, timeout=timeout)
            results: list[dict[str, int]] = cl.gather(futures)
        finally:
            cl.cancel(futures)
    finally:
        if owned is not None:
            owned[0].close()
            owned[1].close()
    totals = {name: sum(r[name] for r in results) for name in results[0]} if results else {}
    return BatchSummary(
        datagrams=totals.get("datagrams", 0),
        readings=totals.get(READINGS, 0),
        events=totals.get(EVENTS, 0),
        duplicates=totals.get("duplicates", 0),
        malformed=totals.get(RejectReason.MALFORMED, 0),
        unknown_meter=totals.get(RejectReason.UNKNOWN_METER, 0),
        forged=totals.get(RejectReason.FORGED, 0),
        replayed=totals.get(RejectReason.REPLAYED, 0),
        not_a_push=totals.get(RejectReason.NOT_A_PUSH, 0),
        meters=totals.get("meters", 0),
        partitions=len(results),
        elapsed_s=time.perf_counter() - started,
    )


def read_store(folder: str | os.PathLike[str]) -> Any:
    """The readings of a :class:`~smartmeter_proto.hes.parquet_store.ParquetStore` folder as
    a ``dask.dataframe`` (columns of :data:`~.parquet_store.READINGS_SCHEMA` plus the
    ``date`` and ``hour`` partition columns): the same analysis code reads the collector's
    store and the output of :func:`decode_captures`."""
    import dask.dataframe as dd

    return dd.read_parquet(
        os.path.join(os.fspath(folder), READINGS_DIR), dataset={"partitioning": PARTITIONING}
    )

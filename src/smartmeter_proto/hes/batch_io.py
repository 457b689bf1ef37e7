"""Parquet side of the batch push decoder: the capture schema, the three output schemas.

Capture (input), one row per datagram as received on the head end's A-route UDP port:

=============== =========== ===========================================================
``received_at`` float64     POSIX seconds of reception (the collector's clock)
``source``      string      sender address ``"host:port"`` (``"[v6]:port"`` for IPv6)
``datagram``    binary      one DLMS UDP wrapper PDU exactly as received
=============== =========== ===========================================================

Outputs (one ``part-NNNNN.parquet`` per job partition under ``readings/``, ``events/``,
``rejected/``; every part carries its schema, so an empty part still reads back typed).
System titles are upper-case hex (16 characters), as :mod:`~smartmeter_proto.hes.push`
prints them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

__all__ = [
    "CAPTURE_COLUMNS",
    "CAPTURE_SCHEMA",
    "EVENTS",
    "EVENTS_SCHEMA",
    "OUTPUTS",
    "READINGS",
    "READINGS_SCHEMA",
    "REJECTED",
    "REJECTED_SCHEMA",
    "CaptureRow",
    "clear_outputs",
    "part_name",
    "write_capture",
    "write_part",
]

RECEIVED_AT: Final = "received_at"
SOURCE: Final = "source"
DATAGRAM: Final = "datagram"
CAPTURE_COLUMNS: Final = (RECEIVED_AT, SOURCE, DATAGRAM)
CAPTURE_SCHEMA: Final = pa.schema(
    [
        pa.field(RECEIVED_AT, pa.float64(), nullable=False),
        pa.field(SOURCE, pa.string()),
        pa.field(DATAGRAM, pa.binary()),
    ]
)

READINGS: Final = "readings"
EVENTS: Final = "events"
REJECTED: Final = "rejected"
OUTPUTS: Final = (READINGS, EVENTS, REJECTED)

#: period (s) and period_end (POSIX s) of :class:`~smartmeter_proto.hes.push.ValueReading`;
#: latency_s = received_at - period_end.
READINGS_SCHEMA: Final = pa.schema(
    [
        pa.field("system_title", pa.string(), nullable=False),
        pa.field("period", pa.int32(), nullable=False),
        pa.field("period_end", pa.int64(), nullable=False),
        pa.field("values", pa.list_(pa.int64()), nullable=False),
        pa.field("invocation_counter", pa.int64(), nullable=False),
        pa.field("received_at", pa.float64(), nullable=False),
        pa.field("latency_s", pa.float64(), nullable=False),
    ]
)
#: kind is the :class:`~smartmeter_proto.hes.push.PowerEventKind` name; at in POSIX s.
EVENTS_SCHEMA: Final = pa.schema(
    [
        pa.field("system_title", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("at", pa.int64(), nullable=False),
        pa.field("invocation_counter", pa.int64(), nullable=False),
        pa.field("received_at", pa.float64(), nullable=False),
    ]
)
#: reason: malformed / unknown_meter / forged / replayed; layer and offset only for
#: malformed rows (the DecodeError's); message never holds key material.
REJECTED_SCHEMA: Final = pa.schema(
    [
        pa.field("received_at", pa.float64(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("system_title", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("layer", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("message", pa.string(), nullable=False),
    ]
)
_SCHEMAS: Final = {READINGS: READINGS_SCHEMA, EVENTS: EVENTS_SCHEMA, REJECTED: REJECTED_SCHEMA}
_PART_PREFIX: Final = "part-"


class CaptureRow(NamedTuple):
    """One captured datagram (the capture schema as a Python row)."""

    received_at: float
    source: str | None
    datagram: bytes


def write_capture(
    path: str | os.PathLike[str],
    rows: Iterable[CaptureRow | tuple[Any, ...]],
    *,
    row_group_size: int | None = None,
) -> int:
    """Write ``rows`` (received_at, source, datagram) as a capture Parquet file; row count."""
    received: list[float] = []
    sources: list[str | None] = []
    datagrams: list[bytes] = []
    for received_at, source, datagram in rows:
        received.append(float(received_at))
        sources.append(None if source is None else str(source))
        datagrams.append(bytes(datagram))
    table = pa.Table.from_arrays(
        [
            pa.array(received, pa.float64()),
            pa.array(sources, pa.string()),
            pa.array(datagrams, pa.binary()),
        ],
        schema=CAPTURE_SCHEMA,
    )
    pq.write_table(table, os.fspath(path), row_group_size=row_group_size)
    return len(received)


def part_name(index: int) -> str:
    return f"{_PART_PREFIX}{index:05d}.parquet"


def clear_outputs(out_dir: str | os.PathLike[str]) -> None:
    """Create the three output folders; remove part files an earlier run left there."""
    for name in OUTPUTS:
        folder = Path(out_dir) / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{_PART_PREFIX}*.parquet"):
            old.unlink()


def write_part(out_dir: str, output: str, index: int, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write one output partition (rows in schema column order) as ``output/part-NNNNN``."""
    schema = _SCHEMAS[output]
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)]
    table = pa.Table.from_arrays(arrays, schema=schema)
    pq.write_table(table, os.path.join(out_dir, output, part_name(index)))

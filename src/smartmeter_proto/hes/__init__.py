"""Head-end side of the A-route: push decoding, the collector, its SQLite store, the
service-level report. The scale-out job (:mod:`.batch`) and the chart (:mod:`.chart`)
need the optional extra ``hes`` (Dask, pyarrow, matplotlib) and are imported from their
modules."""

from .collector import Collector, CollectorConfig, CollectorStats, MeterInfo
from .push import (
    PERIOD_5MIN,
    PERIOD_30MIN,
    POWER_EVENT,
    MeterKeys,
    OpenedPush,
    PowerEvent,
    PowerEventKind,
    PushRecord,
    ValueReading,
    classify_push,
    open_push,
    open_push_datagram,
    open_push_fields,
    open_push_from,
    read_notification,
    readings_from_rows,
)
from .report import Level, ServiceReport, service_report
from .sessions import MeterSession
from .storage import Store

__all__ = [
    "PERIOD_5MIN",
    "PERIOD_30MIN",
    "POWER_EVENT",
    "Collector",
    "CollectorConfig",
    "CollectorStats",
    "Level",
    "MeterInfo",
    "MeterKeys",
    "MeterSession",
    "OpenedPush",
    "PowerEvent",
    "PowerEventKind",
    "PushRecord",
    "ServiceReport",
    "Store",
    "ValueReading",
    "classify_push",
    "open_push",
    "open_push_datagram",
    "open_push_fields",
    "open_push_from",
    "read_notification",
    "readings_from_rows",
    "service_report",
]

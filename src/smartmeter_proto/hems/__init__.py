"""HEMS side of the B-route: a meter in named units, a reading planner, a recorder and its store.

Importing this package needs no optional extra: the MQTT publisher imports ``aiomqtt``
(the ``mqtt`` extra) only when it connects. Open a meter with
:func:`smartmeter_proto.transport.smart_meter.open_smart_meter`.
"""

from .ha_discovery import DeviceInfo
from .meter import METER_EOJ, MeterLink, SmartMeter
from .mqtt import MqttPublisher, MqttTarget, PublisherCore, parse_mqtt_url
from .outbox import StoreFeed
from .planner import ReadingPlanner, Request, RequestKind
from .readings import (
    BadReading,
    CumulativeEnergy,
    Instantaneous,
    InstantaneousCurrent,
    InstantaneousPower,
    IntervalValue,
    MeterIdentity,
)
from .recorder import Connect, Recorder
from .report import RecordReport, build_report
from .store import RecordStore

__all__ = [
    "METER_EOJ",
    "BadReading",
    "Connect",
    "CumulativeEnergy",
    "DeviceInfo",
    "Instantaneous",
    "InstantaneousCurrent",
    "InstantaneousPower",
    "IntervalValue",
    "MeterIdentity",
    "MeterLink",
    "MqttPublisher",
    "MqttTarget",
    "PublisherCore",
    "ReadingPlanner",
    "RecordReport",
    "RecordStore",
    "Recorder",
    "Request",
    "RequestKind",
    "SmartMeter",
    "StoreFeed",
    "build_report",
    "parse_mqtt_url",
]

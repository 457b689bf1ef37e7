"""Home Assistant MQTT discovery: the config and state messages for a smart meter's readings.

Shapes follow Home Assistant's MQTT discovery and MQTT sensor documentation
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery,
https://www.home-assistant.io/integrations/sensor.mqtt/):

- a config is published, retained, on ``<prefix>/sensor/<node_id>/<object_id>/config``
  (``prefix`` is ``homeassistant`` unless Home Assistant was configured otherwise);
- it carries ``unique_id``, ``state_topic``, ``device_class``, ``state_class``,
  ``unit_of_measurement``, a ``device`` block (``identifiers``, ``manufacturer``, ``model``)
  and an ``availability`` topic with ``online``/``offline`` payloads;
- energy sensors are ``device_class: energy`` in kWh with ``state_class: total_increasing``,
  which is what the Energy dashboard accepts for grid consumption (normal direction) and
  return to grid (reverse direction); power is ``power``/W, current ``current``/A, both
  ``state_class: measurement``.

State payloads are JSON ``{"value": ..., "measured_at": ISO 8601 UTC, "reading_id": ...}``
read by a ``value_template``; ``reading_id`` is the store's row id, so a consumer can drop
the duplicates that at-least-once delivery allows. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "DEFAULT_DISCOVERY_PREFIX",
    "DEFAULT_STATE_PREFIX",
    "PAYLOAD_AVAILABLE",
    "PAYLOAD_NOT_AVAILABLE",
    "SENSORS",
    "DeviceInfo",
    "MqttMessage",
    "SensorSpec",
    "StoredReading",
    "availability_message",
    "availability_topic",
    "discovery_messages",
    "history_topic",
    "node_id_for",
    "state_message",
    "state_topic",
]

#: Home Assistant's default discovery prefix (MQTT discovery, "Discovery topic").
DEFAULT_DISCOVERY_PREFIX: Final = "homeassistant"
#: Where this project publishes sensor states and availability.
DEFAULT_STATE_PREFIX: Final = "smartmeter_proto"
#: Home Assistant's default availability payloads (MQTT sensor, ``payload_available``).
PAYLOAD_AVAILABLE: Final = "online"
PAYLOAD_NOT_AVAILABLE: Final = "offline"

# Discovery topic segments: node_id and object_id are limited to [a-zA-Z0-9_-]
# (MQTT discovery, "Discovery topic").
_TOPIC_SEGMENT: Final = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True, slots=True)
class MqttMessage:
    """One message to publish with QoS 1; ``reading`` is ``(stream, id)`` for a reading's state."""

    topic: str
    payload: bytes
    retain: bool
    reading: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class StoredReading:
    """One row of the store as the outbox publishes it.

    ``stream`` names the store table (``instants``, ``intervals``), whose ``reading_id``
    only grows; ``measured_at`` is POSIX seconds (for an interval value, the end of its
    slot); ``values`` pairs a key of :data:`SENSORS` with its value in the sensor's unit.
    """

    stream: str
    reading_id: int
    measured_at: float
    values: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if self.reading_id <= 0:
            raise ValueError(f"reading_id must be positive, not {self.reading_id}")


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """How one stored quantity appears in Home Assistant."""

    object_id: str
    name: str
    device_class: str
    state_class: str
    unit: str
    epcs: str


_MEASUREMENT: Final = "measurement"
_TOTAL_INCREASING: Final = "total_increasing"

#: Stored quantity -> Home Assistant sensor. EPCs of the low-voltage smart electric energy
#: meter class 0x0288 (ECHONET APPENDIX Release, 3.3.25); cumulative values are kWh after
#: the coefficient (0xD3) and unit (0xE1), as the store keeps them. The 30-minute cumulative
#: values are the Energy dashboard's grid consumption and return to grid.
SENSORS: Final[Mapping[str, SensorSpec]] = {
    spec.object_id: spec
    for spec in (
        SensorSpec(
            "instantaneous_power_w", "Instantaneous power", "power", _MEASUREMENT, "W", "E7"
        ),
        SensorSpec(
            "instantaneous_current_r_a", "Current R phase", "current", _MEASUREMENT, "A", "E8"
        ),
        SensorSpec(
            "instantaneous_current_t_a", "Current T phase", "current", _MEASUREMENT, "A", "E8"
        ),
        SensorSpec(
            "energy_normal_kwh", "Energy consumed", "energy", _TOTAL_INCREASING, "kWh", "EA E2 EC"
        ),
        SensorSpec(
            "energy_reverse_kwh", "Energy returned", "energy", _TOTAL_INCREASING, "kWh", "EB E4 EC"
        ),
        SensorSpec(
            "energy_normal_1min_kwh",
            "Energy consumed (1 min)",
            "energy",
            _TOTAL_INCREASING,
            "kWh",
            "D0 EE",
        ),
        SensorSpec(
            "energy_reverse_1min_kwh",
            "Energy returned (1 min)",
            "energy",
            _TOTAL_INCREASING,
            "kWh",
            "D0 EE",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The meter as one Home Assistant device; ``meter_id`` is its identification number."""

    meter_id: str
    manufacturer: str = "unknown"
    model: str = "Low-voltage smart electric energy meter (0x0288)"
    name: str = "Smart meter"
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    state_prefix: str = DEFAULT_STATE_PREFIX

    def __post_init__(self) -> None:
        if not self.meter_id:
            raise ValueError("meter_id must not be empty")
        for what, prefix in (
            ("discovery_prefix", self.discovery_prefix),
            ("state_prefix", self.state_prefix),
        ):
            if not prefix or any(c in prefix for c in "+#\0"):
                raise ValueError(f"{what} must be a topic without wildcards, not {prefix!r}")


def node_id_for(meter_id: str) -> str:
    """The discovery ``node_id`` for a meter: its id reduced to ``[a-zA-Z0-9_-]``."""
    cleaned = _TOPIC_SEGMENT.sub("_", meter_id).strip("_")
    return f"smartmeter_{cleaned or 'meter'}"


def state_topic(device: DeviceInfo, object_id: str) -> str:
    """Where the states of one sensor are published."""
    return f"{device.state_prefix}/{node_id_for(device.meter_id)}/{object_id}/state"


def availability_topic(device: DeviceInfo) -> str:
    """The device's availability topic (``online``/``offline``, retained; the will says offline)."""
    return f"{device.state_prefix}/{node_id_for(device.meter_id)}/availability"


def _config(device: DeviceInfo, spec: SensorSpec, origin_version: str) -> dict[str, object]:
    node_id = node_id_for(device.meter_id)
    return {
        "name": spec.name,
        "unique_id": f"{node_id}_{spec.object_id}",
        "state_topic": state_topic(device, spec.object_id),
        "value_template": "{{ value_json.value }}",
        "json_attributes_topic": state_topic(device, spec.object_id),
        "device_class": spec.device_class,
        "state_class": spec.state_class,
        "unit_of_measurement": spec.unit,
        "availability_topic": availability_topic(device),
        "payload_available": PAYLOAD_AVAILABLE,
        "payload_not_available": PAYLOAD_NOT_AVAILABLE,
        "device": {
            "identifiers": [node_id],
            "manufacturer": device.manufacturer,
            "model": device.model,
            "name": device.name,
            "serial_number": device.meter_id,
        },
        "origin": {"name": "smartmeter_proto", "sw_version": origin_version},
    }


def discovery_messages(
    device: DeviceInfo, quantities: tuple[str, ...] | None = None, *, origin_version: str = "0"
) -> list[MqttMessage]:
    """The retained discovery configs, one per sensor (all of :data:`SENSORS` by default)."""
    wanted = quantities if quantities is not None else tuple(SENSORS)
    node_id = node_id_for(device.meter_id)
    messages = []
    for quantity in wanted:
        spec = SENSORS.get(quantity)
        if spec is None:
            raise ValueError(f"no Home Assistant sensor for quantity {quantity!r}")
        topic = f"{device.discovery_prefix}/sensor/{node_id}/{spec.object_id}/config"
        payload = json.dumps(_config(device, spec, origin_version), sort_keys=True)
        messages.append(MqttMessage(topic, payload.encode(), retain=True))
    return messages


def availability_message(device: DeviceInfo, *, online: bool) -> MqttMessage:
    """The retained availability message (``online`` on connect; ``offline`` is the will)."""
    payload = PAYLOAD_AVAILABLE if online else PAYLOAD_NOT_AVAILABLE
    return MqttMessage(availability_topic(device), payload.encode(), retain=True)


def history_topic(device: DeviceInfo, object_id: str) -> str:
    """Where a value older than the sensor's last published one goes (not read by HA).

    A ``total_increasing`` sensor takes a decrease for a new meter cycle (Home Assistant
    developer docs, sensor state classes), so a value filled in later for an older slot
    must not reach its state topic.
    """
    return f"{device.state_prefix}/{node_id_for(device.meter_id)}/{object_id}/history"


def state_message(
    device: DeviceInfo,
    reading: StoredReading,
    quantity: str,
    value: float,
    *,
    history: bool = False,
) -> MqttMessage:
    """The message for one value of ``reading``: retained on the state topic, so a restarted
    Home Assistant sees the last value; not retained on the history topic.

    Raises ``ValueError`` for a quantity that has no sensor (see :data:`SENSORS`).
    """
    spec = SENSORS.get(quantity)
    if spec is None:
        raise ValueError(f"no Home Assistant sensor for quantity {quantity!r}")
    measured = datetime.fromtimestamp(reading.measured_at, UTC).isoformat()
    payload = json.dumps(
        {"value": value, "measured_at": measured, "reading_id": reading.reading_id},
        sort_keys=True,
    )
    topic = (history_topic if history else state_topic)(device, spec.object_id)
    return MqttMessage(
        topic,
        payload.encode(),
        retain=not history,
        reading=(reading.stream, reading.reading_id),
    )

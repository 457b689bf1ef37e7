"""The MQTT publisher's sans-IO half, its broker URL and the Home Assistant payloads."""

from __future__ import annotations

import json
import sqlite3

import pytest

from smartmeter_proto.errors import SessionError
from smartmeter_proto.hems.ha_discovery import (
    SENSORS,
    DeviceInfo,
    StoredReading,
    discovery_messages,
)
from smartmeter_proto.hems.mqtt import PublisherCore, PublisherState, parse_mqtt_url
from smartmeter_proto.hems.outbox import PublicationCursor

DEVICE = DeviceInfo("FE00ABCD", manufacturer="000016")


def _power(reading_id: int, at: float, watts: float = 100.0) -> StoredReading:
    return StoredReading("instants", reading_id, at, (("instantaneous_power_w", watts),))


def _energy(reading_id: int, slot: float, kwh: float) -> StoredReading:
    return StoredReading("intervals", reading_id, slot, (("energy_normal_kwh", kwh),))


def _core(**cursors: int) -> PublisherCore:
    return PublisherCore(DEVICE, cursors={"instants": 0, "intervals": 0, **cursors})


def test_configs_follow_home_assistant_discovery() -> None:
    messages = discovery_messages(DEVICE)
    assert len(messages) == len(SENSORS)
    assert all(m.retain and m.reading is None for m in messages)
    topics = {m.topic for m in messages}
    assert "homeassistant/sensor/smartmeter_FE00ABCD/energy_reverse_kwh/config" in topics
    config = json.loads(messages[0].payload)
    for key in (
        "unique_id",
        "state_topic",
        "device_class",
        "state_class",
        "unit_of_measurement",
        "device",
        "availability_topic",
        "value_template",
    ):
        assert key in config


def test_connection_publishes_configs_then_online() -> None:
    core = _core()
    first = core.connection_made(0.0)
    assert first[-1].topic.endswith("/availability")
    assert first[-1].payload == b"online"
    assert first[-1].retain
    assert core.state is PublisherState.CONNECTED


def test_cursor_moves_only_over_acknowledged_rows_in_order() -> None:
    core = _core()
    core.connection_made(0.0)
    messages = core.messages_for("instants", [_power(1, 10.0), _power(2, 20.0), _power(3, 30.0)])
    assert [m.reading for m in messages] == [("instants", 1), ("instants", 2), ("instants", 3)]
    assert core.read_from("instants") == 3
    assert core.cursor("instants") == 0
    assert core.acknowledged(messages[0])
    assert core.cursor("instants") == 1
    # The broker went away before acknowledging 2 and 3: they are handed out again.
    retry_at = core.connection_lost(100.0)
    assert retry_at == 101.0
    assert core.next_deadline() == 101.0
    core.connection_made(101.0)
    assert core.read_from("instants") == 1
    again = core.messages_for("instants", [_power(2, 20.0), _power(3, 30.0)])
    assert [m.topic for m in again] == [messages[1].topic] * 2  # state topic, not history
    for message in again:
        core.acknowledged(message)
    assert core.cursor("instants") == 3


def test_rows_with_nothing_to_publish_are_passed_over() -> None:
    core = _core()
    core.connection_made(0.0)
    empty = StoredReading("instants", 1, 5.0, ())
    messages = core.messages_for("instants", [empty, _power(2, 10.0)])
    assert len(messages) == 1
    assert core.cursor("instants") == 1  # no message to wait for on row 1
    core.acknowledged(messages[0])
    assert core.cursor("instants") == 2


def test_an_older_slot_goes_to_history_not_to_a_total_increasing_state() -> None:
    core = _core()
    core.connection_made(0.0)
    newer, older = core.messages_for(
        "intervals", [_energy(1, 3600.0, 10.5), _energy(2, 1800.0, 10.2)]
    )
    assert newer.topic.endswith("/energy_normal_kwh/state")
    assert newer.retain
    assert older.topic.endswith("/energy_normal_kwh/history")
    assert not older.retain
    assert json.loads(older.payload)["value"] == 10.2


def test_rows_must_come_in_order_and_states_are_checked() -> None:
    core = _core()
    with pytest.raises(SessionError, match="while disconnected"):
        core.messages_for("instants", [_power(1, 1.0)])
    core.connection_made(0.0)
    core.messages_for("instants", [_power(5, 1.0)])
    with pytest.raises(ValueError, match="ascending"):
        core.messages_for("instants", [_power(4, 2.0)])
    core.close()
    with pytest.raises(SessionError, match="while closed"):
        core.connection_made(1.0)


def test_backoff_doubles_up_to_its_limit() -> None:
    core = PublisherCore(DEVICE, cursors={"instants": 0}, backoff_first=1.0, backoff_max=5.0)
    delays = [core.connection_lost(0.0) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    core.connection_made(10.0)
    assert core.next_deadline() is None
    assert core.connection_lost(10.0) == 11.0  # a good connection resets the backoff


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "user"),
    [
        ("mqtt://broker.local", "broker.local", 1883, False, None),
        ("mqtts://hems@127.0.0.1", "127.0.0.1", 8883, True, "hems"),
        ("mqtt://[::1]:1884", "::1", 1884, False, None),
    ],
)
def test_broker_urls(url: str, host: str, port: int, tls: bool, user: str | None) -> None:
    target = parse_mqtt_url(url)
    assert (target.host, target.port, target.tls, target.username) == (host, port, tls, user)


def test_password_from_url_or_file_never_shown() -> None:
    target = parse_mqtt_url("mqtt://hems:s%40cret-9@127.0.0.1:1884")
    assert target.password == "s@cret-9"
    assert "cret" not in repr(target)
    assert target.display == "mqtt://hems@127.0.0.1:1884"
    from_file = parse_mqtt_url("mqtt://hems@127.0.0.1", password="filesecret")
    assert from_file.password == "filesecret"
    with pytest.raises(ValueError, match="twice") as twice:
        parse_mqtt_url("mqtt://hems:urlsecret@127.0.0.1", password="filesecret")
    assert "secret" not in str(twice.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://host", "scheme"),
        ("mqtt://", "no host"),
        ("mqtt://host:99999", "bad port"),
        ("mqtt://host/topic", "no path"),
        ("mqtt://:pw@host", "needs a user name"),
    ],
)
def test_bad_urls_are_refused_without_echoing_secrets(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as refused:
        parse_mqtt_url(url)
    assert "pw" not in str(refused.value)


def test_cursor_table_refuses_a_password_and_keeps_streams_apart() -> None:
    connection = sqlite3.connect(":memory:")
    with pytest.raises(ValueError, match="password"):
        PublicationCursor(connection, "mqtt://hems:secret@host:1883")
    cursor = PublicationCursor(connection, "mqtt://hems@host:1883")
    assert cursor.load() == {"instants": 0, "intervals": 0}
    cursor.save("intervals", 7)
    cursor.save("intervals", 9)
    assert cursor.load() == {"instants": 0, "intervals": 9}
    assert PublicationCursor(connection, "mqtt://other:1883").load()["intervals"] == 0

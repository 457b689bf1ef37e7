"""The MQTT publisher against a real mosquitto broker on a loopback port.

Readings are put in a real store (:class:`RecordStore`), published from its outbox, and
seen by a second client subscribed to everything. The broker is stopped and started again
to show that what was stored meanwhile arrives afterwards, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

aiomqtt = pytest.importorskip("aiomqtt", reason="needs the 'mqtt' extra (aiomqtt)")

from smartmeter_proto.hems.ha_discovery import DeviceInfo, node_id_for  # noqa: E402
from smartmeter_proto.hems.mqtt import MqttPublisher, MqttTarget  # noqa: E402
from smartmeter_proto.hems.outbox import PublicationCursor, StoreFeed  # noqa: E402
from smartmeter_proto.hems.readings import Instantaneous  # noqa: E402
from smartmeter_proto.hems.store import RecordStore  # noqa: E402

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto not installed (bash interop/install_mosquitto.sh)"
)

HANG_GUARD_S = 90.0  # only guards against a hang; no outcome depends on it
METER_ID = "FE00000000000000000000000000ABCD"
NODE = node_id_for(METER_ID)
MQTT_PASSWORD = "mqtt-Secret-9f3a"
BROUTE_PASSWORD = "BROUTEPWD0123"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """A mosquitto process on 127.0.0.1:port with a generated config; stop() and start()."""

    def __init__(self, folder: Path, *, users: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.folder = folder
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            f"log_dest file {folder / 'mosquitto.log'}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # keep reading the files of this test's folder
        if users:
            password_file = folder / "passwords"
            password_file.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()[-500:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not listen in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=HANG_GUARD_S)
        self.process = None

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path, users={"hems": MQTT_PASSWORD})
    running.start()
    yield running
    running.stop()


class Subscriber:
    """A second client that records every message it sees on ``#``."""

    def __init__(
        self, port: int, *, username: str | None = None, password: str | None = None
    ) -> None:
        self.port = port
        self.username = username
        self.password = password
        self.messages: list[tuple[str, bytes, bool]] = []
        self._arrived = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Subscriber]:
        async with aiomqtt.Client(
            "127.0.0.1",
            self.port,
            username=self.username,
            password=self.password,
            timeout=HANG_GUARD_S,
        ) as client:
            await client.subscribe("#", qos=1)

            async def collect() -> None:
                async for message in client.messages:
                    payload = message.payload
                    assert isinstance(payload, bytes)
                    self.messages.append((str(message.topic), payload, message.retain))
                    self._arrived.set()

            task = asyncio.create_task(collect())
            try:
                yield self
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        async def loop() -> None:
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(loop(), HANG_GUARD_S)

    def states(self, object_id: str) -> list[dict[str, object]]:
        topic = f"smartmeter_proto/{NODE}/{object_id}/state"
        return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def configs(self) -> dict[str, dict[str, object]]:
        prefix = f"homeassistant/sensor/{NODE}/"
        return {
            t[len(prefix) : -len("/config")]: json.loads(p)
            for t, p, _ in self.messages
            if t.startswith(prefix) and t.endswith("/config")
        }


def _power_ids(subscriber: Subscriber) -> list[int]:
    return [int(str(s["reading_id"])) for s in subscriber.states("instantaneous_power_w")]


def _publisher(db: Path, target: MqttTarget, **options: float) -> MqttPublisher:
    connection = sqlite3.connect(db)
    return MqttPublisher(
        target,
        DeviceInfo(METER_ID, manufacturer="000016"),
        StoreFeed(connection),
        PublicationCursor(connection, target.display),
        poll_interval=options.pop("poll_interval", 3600.0),
        backoff_first=options.pop("backoff_first", 3600.0),
        backoff_max=3600.0,
        timeout=5.0,
    )


def _store(tmp_path: Path) -> tuple[Path, RecordStore]:
    db = tmp_path / "hems.sqlite"
    store = RecordStore(db)
    store.set_meta("route_b_id", "00112233445566778899AABBCCDDEEFF")
    store.commit()
    return db, store


def _add_instants(store: RecordStore, start: int, count: int) -> None:
    for i in range(start, start + count):
        store.add_instant(Instantaneous(1_700_000_000.0 + 10 * i, 100 + i, 1.0 + i / 10, None))
    store.commit()


async def _until(condition: Callable[[], bool]) -> None:
    async def loop() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), HANG_GUARD_S)


def test_discovery_and_readings_reach_a_subscriber(broker: Broker, tmp_path: Path) -> None:
    db, store = _store(tmp_path)
    _add_instants(store, 0, 5)
    store._db.execute(  # an interval row as the recorder stores it (schema of hems.store)
        "INSERT INTO intervals (kind, slot, direction, count, kwh, source, received)"
        " VALUES ('half_hour', 1700001800, 'normal', 123456, '12345.6', 'EA', 1700001805)"
    )
    store.commit()

    async def scenario() -> Subscriber:
        subscriber = Subscriber(broker.port)
        async with subscriber.running():
            publisher = _publisher(db, MqttTarget("127.0.0.1", broker.port))
            task = asyncio.create_task(publisher.run())
            await subscriber.wait_for(
                lambda: (
                    len(_power_ids(subscriber)) == 5
                    and len(subscriber.states("energy_normal_kwh")) == 1
                )
            )
            publisher.stop()
            await asyncio.wait_for(task, HANG_GUARD_S)
        return subscriber

    subscriber = asyncio.run(scenario())
    configs = subscriber.configs()
    power, energy = configs["instantaneous_power_w"], configs["energy_normal_kwh"]
    assert (power["device_class"], power["state_class"], power["unit_of_measurement"]) == (
        "power",
        "measurement",
        "W",
    )
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
        "energy",
        "total_increasing",
        "kWh",
    )
    assert configs["instantaneous_current_r_a"]["unit_of_measurement"] == "A"
    assert energy["state_topic"] == f"smartmeter_proto/{NODE}/energy_normal_kwh/state"
    assert energy["availability_topic"] == f"smartmeter_proto/{NODE}/availability"
    device = energy["device"]
    assert isinstance(device, dict)
    assert device["identifiers"] == [NODE]
    assert device["manufacturer"] == "000016"
    assert "model" in device
    assert _power_ids(subscriber) == [1, 2, 3, 4, 5]
    assert [s["value"] for s in subscriber.states("instantaneous_power_w")] == [
        100,
        101,
        102,
        103,
        104,
    ]
    assert subscriber.states("energy_normal_kwh")[0]["value"] == 12345.6
    assert not subscriber.states("instantaneous_current_t_a")  # NULL phase: nothing sent
    availability = [p for t, p, _ in subscriber.messages if t.endswith("/availability")]
    assert availability[0] == b"online"
    assert availability[-1] == b"offline"  # said on a clean stop
    # The configs are retained: a client arriving later still gets them.

    async def late_reader() -> Subscriber:
        late = Subscriber(broker.port)
        async with late.running():
            await late.wait_for(lambda: len(late.configs()) == len(configs))
            await late.wait_for(lambda: bool(late.states("instantaneous_power_w")))
        return late

    late = asyncio.run(late_reader())
    assert all(retained for t, _, retained in late.messages if t.endswith("/config"))
    assert late.states("instantaneous_power_w")[-1]["reading_id"] == 5  # the newest, retained
    cursors = dict(sqlite3.connect(db).execute("SELECT stream, last_id FROM mqtt_publication"))
    assert cursors == {"instants": 5, "intervals": 1}


def test_broker_outage_loses_nothing(broker: Broker, tmp_path: Path) -> None:
    db, store = _store(tmp_path)
    _add_instants(store, 0, 3)

    async def scenario() -> tuple[list[int], list[int], MqttPublisher]:
        publisher = _publisher(db, MqttTarget("127.0.0.1", broker.port))
        task = asyncio.create_task(publisher.run())
        before = Subscriber(broker.port)
        async with before.running():
            await before.wait_for(lambda: len(_power_ids(before)) == 3)
        # The broker goes away; readings keep being stored, the publisher's attempts fail.
        broker.stop()
        _add_instants(store, 3, 4)
        publisher.notify()
        await _until(lambda: publisher.connection_failures >= 1)
        _add_instants(store, 7, 43)  # more than one window of publications in flight
        publisher.retry_now()  # the broker is still down: this attempt fails too
        await _until(lambda: publisher.connection_failures >= 2)
        assert store.instant_count() == 50
        # Back: a subscriber first (the broker keeps no sessions), then the publisher.
        broker.start()
        after = Subscriber(broker.port)
        async with after.running():
            publisher.retry_now()
            await after.wait_for(lambda: 50 in _power_ids(after))
            publisher.stop()
            await asyncio.wait_for(task, HANG_GUARD_S)
        return _power_ids(before), _power_ids(after), publisher

    first, second, publisher = asyncio.run(scenario())
    assert first == [1, 2, 3]
    # Everything stored during the outage arrives, in order; a duplicate could only be a
    # reading unacknowledged at the cut (at-least-once), and there was none here.
    assert second == list(range(4, 51))
    assert publisher.connection_failures == 2
    cursors = dict(sqlite3.connect(db).execute("SELECT stream, last_id FROM mqtt_publication"))
    assert cursors["instants"] == 50


def test_password_is_used_and_never_shown(
    auth_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db, store = _store(tmp_path)
    store.add_event(0.0, "joined", "B-route joined")  # the store never holds the secret
    _add_instants(store, 0, 2)
    good = MqttTarget("127.0.0.1", auth_broker.port, username="hems", password=MQTT_PASSWORD)
    bad = MqttTarget("127.0.0.1", auth_broker.port, username="hems", password="wrong-pass")

    async def scenario() -> Subscriber:
        refused = _publisher(db, bad)
        task = asyncio.create_task(refused.run())
        await _until(lambda: refused.connection_failures >= 1)
        refused.stop()
        await asyncio.wait_for(task, HANG_GUARD_S)
        assert refused.published == 0
        subscriber = Subscriber(auth_broker.port, username="hems", password=MQTT_PASSWORD)
        async with subscriber.running():
            publisher = _publisher(db, good)
            task = asyncio.create_task(publisher.run())
            await subscriber.wait_for(lambda: len(_power_ids(subscriber)) == 2)
            publisher.stop()
            await asyncio.wait_for(task, HANG_GUARD_S)
            assert MQTT_PASSWORD not in repr(publisher.target)
            assert MQTT_PASSWORD not in publisher.target.display
        return subscriber

    subscriber = asyncio.run(scenario())
    assert _power_ids(subscriber) == [1, 2]
    assert any("retrying" in record.getMessage() for record in caplog.records)
    for secret in (MQTT_PASSWORD, BROUTE_PASSWORD):
        assert secret not in caplog.text
        assert all(secret.encode() not in payload for _, payload, _ in subscriber.messages)
        assert secret.encode() not in db.read_bytes()


def test_record_command_publishes_through_mqtt(broker: Broker, tmp_path: Path) -> None:
    """``record --lan ... --mqtt``: a real subprocess records a simulated meter on loopback
    and its readings reach a subscriber with their discovery configs; ^C ends it with 130."""
    import signal
    import sys

    from smartmeter_proto.sim.meter import SimulatedMeter, meter_node
    from smartmeter_proto.transport.udp import serve_node

    db = tmp_path / "hems.sqlite"

    async def scenario() -> tuple[int, str, list[tuple[str, bytes, bool]]]:
        node = meter_node(SimulatedMeter(), now=time.time())
        async with (
            serve_node(node, local=("127.0.0.1", 0), reply_port=None, join_group=False) as link,
            Subscriber(broker.port).running() as subscriber,
        ):
            host, port = link.address
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "smartmeter_proto",
                "record",
                "--lan",
                f"{host}:{port}",
                "--db",
                str(db),
                "--interval",
                "10",
                "--mqtt",
                f"mqtt://127.0.0.1:{broker.port}",
                stderr=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                # Our ^C: the default SIGINT disposition, whatever this process inherited (a
                # background job starts with SIGINT ignored, and so would its children).
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            try:
                await subscriber.wait_for(
                    lambda: any(
                        t.endswith("instantaneous_power_w/state") for t, _, _ in subscriber.messages
                    )
                )
            finally:
                process.send_signal(signal.SIGINT)
                _, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
            assert process.returncode is not None
            return process.returncode, err.decode(), list(subscriber.messages)

    code, err, messages = asyncio.run(scenario())
    assert code == 130, err
    assert "Traceback" not in err
    configs = [
        t for t, _, _ in messages if t.startswith("homeassistant/sensor/") and t.endswith("/config")
    ]
    assert any("instantaneous_power_w" in t for t in configs)
    power = [json.loads(p) for t, p, _ in messages if t.endswith("instantaneous_power_w/state")]
    assert power
    assert all(isinstance(s["value"], (int, float)) and s["value"] >= 0 for s in power)
    with sqlite3.connect(db) as stored:
        assert stored.execute("SELECT count(*) FROM instants").fetchone()[0] >= 1

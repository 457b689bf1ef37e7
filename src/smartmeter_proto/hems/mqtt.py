"""Publish stored readings to an MQTT broker for Home Assistant, from the store's outbox.

Two halves, as everywhere in this project:

- :class:`PublisherCore` decides, without I/O, what to publish next: the discovery configs
  and the ``online`` availability on each connection, then the readings after the
  acknowledged cursor, in store order; it moves the cursor only over readings whose
  publication the broker acknowledged, and says when to try connecting again
  (exponential backoff). Time is an argument.
- :class:`MqttPublisher` drives it with an asyncio MQTT client (the ``mqtt`` extra,
  ``aiomqtt``), reads the store through a :class:`~.outbox.ReadingFeed` and persists the
  cursor with :class:`~.outbox.PublicationCursor`.

Delivery: QoS 1 (MQTT 3.1.1, 4.3.2), at least once and in store order. A reading stored
while the broker is unreachable stays in the store and is published when the broker is back;
a reading whose PUBACK was lost to a disconnect or a crash is published again (the
``reading_id`` in each payload lets a consumer drop such a duplicate). Configs, availability
and states are retained: a restarted Home Assistant finds its sensors and their last values.
The broker password is held by :class:`MqttTarget` and shown nowhere (``repr``, ``display``,
the cursor's target key, log lines and error texts all leave it out).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import ssl
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

from ..errors import SessionError
from .ha_discovery import (
    SENSORS,
    DeviceInfo,
    MqttMessage,
    StoredReading,
    availability_message,
    discovery_messages,
    node_id_for,
    state_message,
)
from .outbox import PublicationCursor, ReadingFeed

if TYPE_CHECKING:
    import aiomqtt

__all__ = [
    "MQTTS_PORT",
    "MQTT_PORT",
    "QOS_AT_LEAST_ONCE",
    "MqttPublisher",
    "MqttTarget",
    "PublisherCore",
    "PublisherState",
    "parse_mqtt_url",
]

#: IANA registered ports for MQTT and MQTT over TLS (MQTT 3.1.1, 4.2).
MQTT_PORT: Final = 1883
MQTTS_PORT: Final = 8883
#: MQTT 3.1.1, 4.3.2: the receiver answers PUBLISH with PUBACK.
QOS_AT_LEAST_ONCE: Final = 1

#: Publications in flight at once (paho-mqtt's default inflight limit is 20).
_WINDOW: Final = 16

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttTarget:
    """A broker to publish to; the password never appears in ``repr`` or :attr:`display`."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """``mqtt[s]://[user@]host:port``: safe to print, log and store."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def parse_mqtt_url(text: str, *, password: str | None = None) -> MqttTarget:
    """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` to a :class:`MqttTarget`.

    ``password`` (from a file) is used when the URL carries none; both at once is an error.
    Raises ``ValueError`` with a message that never repeats the password.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError("expected mqtt://[USER@]HOST[:PORT] or mqtts://... (bad port)") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"expected an mqtt:// or mqtts:// URL, not scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("no host in the MQTT URL: expected mqtt://[USER@]HOST[:PORT]")
    if (parts.path not in ("", "/")) or parts.query or parts.fragment:
        raise ValueError("the MQTT URL takes no path, query or fragment: mqtt://HOST[:PORT]")
    url_password = unquote(parts.password) if parts.password is not None else None
    if url_password is not None and password is not None:
        raise ValueError("the MQTT password is given twice (in the URL and in a file)")
    username = unquote(parts.username) if parts.username else None
    secret = url_password if url_password is not None else password
    if secret is not None and username is None:
        raise ValueError("an MQTT password needs a user name: mqtt://USER@HOST")
    tls = parts.scheme == "mqtts"
    return MqttTarget(
        host=parts.hostname,
        port=port if port is not None else (MQTTS_PORT if tls else MQTT_PORT),
        tls=tls,
        username=username,
        password=secret,
    )


class PublisherState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"
    CLOSED = "closed"


class _In(enum.Enum):
    CONNECTION_MADE = "connection_made"
    MESSAGES_FOR = "messages_for"
    ACKNOWLEDGED = "acknowledged"
    CONNECTION_LOST = "connection_lost"
    CLOSE = "close"


_D, _C, _X = PublisherState.DISCONNECTED, PublisherState.CONNECTED, PublisherState.CLOSED
#: (state, input) -> next state; a pair missing here is a misuse of the core.
_TRANSITIONS: Final[dict[tuple[PublisherState, _In], PublisherState]] = {
    (_D, _In.CONNECTION_MADE): _C,
    (_D, _In.CONNECTION_LOST): _D,  # a connection attempt failed
    (_D, _In.CLOSE): _X,
    (_C, _In.MESSAGES_FOR): _C,
    (_C, _In.ACKNOWLEDGED): _C,
    (_C, _In.CONNECTION_LOST): _D,
    (_C, _In.CLOSE): _X,
    (_X, _In.CLOSE): _X,
}


class PublisherCore:
    """What to publish next, given the store's rows and what the broker acknowledged.

    ``cursors`` maps each stream (store table) to its last acknowledged row id (load them
    from the outbox). Feed it the rows after :meth:`read_from`, publish what
    :meth:`messages_for` returns in order, report each PUBACK with :meth:`acknowledged`, and
    persist :meth:`cursor` when it moves. A value older than the last one published for its
    sensor (a slot filled in later) goes to the sensor's history topic, so that a
    ``total_increasing`` sensor never sees a decrease. No I/O, no clock: ``now`` is float
    seconds from the caller's monotonic clock.
    """

    def __init__(
        self,
        device: DeviceInfo,
        *,
        cursors: Mapping[str, int],
        backoff_first: float = 1.0,
        backoff_max: float = 60.0,
        origin_version: str = "0",
    ) -> None:
        if any(value < 0 for value in cursors.values()):
            raise ValueError("cursors must be 0 or more")
        if not 0 < backoff_first <= backoff_max:
            raise ValueError("need 0 < backoff_first <= backoff_max")
        self.device = device
        self.state = PublisherState.DISCONNECTED
        self._cursors = dict(cursors)
        self._backoff_first = backoff_first
        self._backoff_max = backoff_max
        self._origin_version = origin_version
        self._failures = 0
        self._retry_at: float | None = None
        # Per stream, rows handed out and not yet acknowledged: [row id, messages outstanding].
        self._outstanding: dict[str, deque[list[int]]] = {s: deque() for s in cursors}
        self._handed_out_to = dict(cursors)
        # Per sensor, the measurement time of the newest value sent to its state topic, and
        # of the newest acknowledged there (what a reconnect starts again from).
        self._newest: dict[str, float] = {}
        self._newest_acknowledged: dict[str, float] = {}
        self._sent_states: dict[MqttMessage, tuple[str, float]] = {}

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self._cursors)

    def cursor(self, stream: str) -> int:
        """The last row id of ``stream`` acknowledged, with every row before it."""
        return self._cursors[stream]

    def _move(self, event: _In) -> None:
        target = _TRANSITIONS.get((self.state, event))
        if target is None:
            raise SessionError(f"publisher cannot {event.value} while {self.state.value}")
        self.state = target

    def next_deadline(self) -> float | None:
        """When to try connecting again (None while connected or before the first failure)."""
        return self._retry_at if self.state is PublisherState.DISCONNECTED else None

    def connection_made(self, now: float) -> list[MqttMessage]:
        """The broker accepted the connection: the configs and ``online`` to publish first."""
        del now  # the backoff restarts from the first delay on the next failure
        self._move(_In.CONNECTION_MADE)
        self._failures = 0
        self._retry_at = None
        self._forget_unacknowledged()
        return [
            *discovery_messages(self.device, origin_version=self._origin_version),
            availability_message(self.device, online=True),
        ]

    def _forget_unacknowledged(self) -> None:
        self._newest = dict(self._newest_acknowledged)
        self._sent_states.clear()
        for stream, outstanding in self._outstanding.items():
            outstanding.clear()
            self._handed_out_to[stream] = self._cursors[stream]

    def read_from(self, stream: str) -> int:
        """The row id to read ``stream`` after (its cursor, or the last row handed out)."""
        return self._handed_out_to[stream]

    def messages_for(self, stream: str, readings: Sequence[StoredReading]) -> list[MqttMessage]:
        """The messages for the next rows of ``stream``, which must follow :meth:`read_from`.

        A row with no value for any sensor publishes nothing; the cursor moves past it once
        every row before it is acknowledged.
        """
        self._move(_In.MESSAGES_FOR)
        messages = []
        last = self._handed_out_to[stream]
        for reading in readings:
            if reading.stream != stream or reading.reading_id <= last:
                raise ValueError(
                    f"rows of {stream!r} must come in ascending id order after {last}, "
                    f"got {reading.stream!r} {reading.reading_id}"
                )
            last = reading.reading_id
            count = 0
            for quantity, value in reading.values:
                if quantity not in SENSORS:
                    continue
                newest = self._newest.get(quantity)
                history = newest is not None and reading.measured_at < newest
                message = state_message(self.device, reading, quantity, value, history=history)
                if not history:
                    self._newest[quantity] = reading.measured_at
                    self._sent_states[message] = (quantity, reading.measured_at)
                messages.append(message)
                count += 1
            self._outstanding[stream].append([reading.reading_id, count])
        self._handed_out_to[stream] = last
        self._settle(stream)
        return messages

    def acknowledged(self, message: MqttMessage) -> bool:
        """The broker acknowledged ``message``; True when a cursor moved."""
        self._move(_In.ACKNOWLEDGED)
        if message.reading is None:
            return False
        stream, reading_id = message.reading
        for entry in self._outstanding.get(stream, ()):
            if entry[0] == reading_id and entry[1] > 0:
                entry[1] -= 1
                break
        else:
            raise ValueError(f"{stream} row {reading_id} was not awaiting acknowledgement")
        sent = self._sent_states.pop(message, None)
        if sent is not None:
            quantity, measured_at = sent
            newest = self._newest_acknowledged.get(quantity, measured_at)
            self._newest_acknowledged[quantity] = max(newest, measured_at)
        before = self._cursors[stream]
        self._settle(stream)
        return self._cursors[stream] != before

    def _settle(self, stream: str) -> None:
        outstanding = self._outstanding[stream]
        while outstanding and outstanding[0][1] == 0:
            self._cursors[stream] = outstanding.popleft()[0]

    def connection_lost(self, now: float) -> float:
        """The link failed (or a connection attempt did): returns when to try again.

        Rows handed out but not acknowledged are handed out again after reconnecting.
        """
        self._move(_In.CONNECTION_LOST)
        self._forget_unacknowledged()
        delay = min(self._backoff_max, self._backoff_first * 2.0 ** min(self._failures, 32))
        self._failures += 1
        self._retry_at = now + delay
        return self._retry_at

    def close(self) -> None:
        """Stop for good; further calls raise :class:`~smartmeter_proto.errors.SessionError`."""
        self._move(_In.CLOSE)
        self._retry_at = None


class MqttPublisher:
    """The asyncio adapter: connects, publishes the outbox, reconnects with backoff.

    Call :meth:`notify` after a reading is committed to publish it at once; otherwise the
    store is polled every ``poll_interval`` seconds. :meth:`run` returns after :meth:`stop`.
    ``timeout`` bounds a connection attempt and the wait for one PUBACK (seconds).
    """

    def __init__(
        self,
        target: MqttTarget,
        device: DeviceInfo,
        feed: ReadingFeed,
        cursor: PublicationCursor,
        *,
        batch_size: int = 100,
        poll_interval: float = 5.0,
        backoff_first: float = 1.0,
        backoff_max: float = 60.0,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
        origin_version: str = "0",
    ) -> None:
        if batch_size <= 0 or poll_interval <= 0 or timeout <= 0:
            raise ValueError("batch_size, poll_interval and timeout must be positive")
        self.target = target
        self.core = PublisherCore(
            device,
            cursors=cursor.load(),
            backoff_first=backoff_first,
            backoff_max=backoff_max,
            origin_version=origin_version,
        )
        self._feed = feed
        self._cursor = cursor
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._tls_context = tls_context
        self._wake = asyncio.Event()
        self._retry = asyncio.Event()
        self._stopping = False
        self.connected = asyncio.Event()
        self.published = 0
        self.connection_failures = 0

    def notify(self) -> None:
        """A reading was committed to the store: publish without waiting for the next poll."""
        self._wake.set()

    def retry_now(self) -> None:
        """Try connecting again now instead of at the end of the backoff (network back up)."""
        self._retry.set()

    def stop(self) -> None:
        """End :meth:`run` (the broker is told ``offline`` if connected)."""
        self._stopping = True
        self._retry.set()
        self._wake.set()

    def _client(self) -> aiomqtt.Client:
        import aiomqtt  # the "mqtt" extra, checked by the command line before work starts

        device = self.core.device
        offline = availability_message(device, online=False)
        context = self._tls_context
        if self.target.tls and context is None:
            context = ssl.create_default_context()
        return aiomqtt.Client(
            self.target.host,
            self.target.port,
            username=self.target.username,
            password=self.target.password,
            identifier=f"smartmeter-proto-{node_id_for(device.meter_id)}",
            will=aiomqtt.Will(offline.topic, offline.payload, QOS_AT_LEAST_ONCE, retain=True),
            timeout=self._timeout,
            tls_context=context,
        )

    async def run(self) -> None:
        """Publish until :meth:`stop`; broker failures are retried, never raised."""
        import aiomqtt

        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                async with self._client() as client:
                    self._retry.clear()
                    for message in self.core.connection_made(loop.time()):
                        await self._publish(client, message)
                    self.connected.set()
                    _log.info("publishing to %s", self.target.display)
                    await self._drain(client)
                    offline = availability_message(self.core.device, online=False)
                    await self._publish(client, offline)
                self.connected.clear()
                break
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self.connection_failures += 1
                retry_at = self.core.connection_lost(loop.time())
                _log.warning(
                    "MQTT broker %s: %s; retrying in %.1f s",
                    self.target.display,
                    exc,
                    retry_at - loop.time(),
                )
                await self._sleep_until(retry_at)
        self.core.close()

    async def _publish(self, client: aiomqtt.Client, message: MqttMessage) -> None:
        await client.publish(
            message.topic, message.payload, qos=QOS_AT_LEAST_ONCE, retain=message.retain
        )

    async def _drain(self, client: aiomqtt.Client) -> None:
        while not self._stopping:
            self._wake.clear()
            busy = False
            for stream in self.core.streams:
                if self._stopping:
                    break
                busy = await self._publish_batch(client, stream) or busy
            if not busy and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _publish_batch(self, client: aiomqtt.Client, stream: str) -> bool:
        """Publish the next rows of ``stream``; False when there were none."""
        readings = self._feed.readings_after(stream, self.core.read_from(stream), self._batch_size)
        if not readings:
            return False
        before = self.core.cursor(stream)
        messages = self.core.messages_for(stream, readings)
        # Sent in order with a bounded window in flight; PUBACKs are taken in the same order,
        # so the cursor only ever moves over a prefix of what was acknowledged.
        pending: deque[tuple[MqttMessage, asyncio.Future[None]]] = deque()
        try:
            for message in messages:
                pending.append((message, asyncio.ensure_future(self._publish(client, message))))
                if len(pending) >= _WINDOW:
                    await self._take_oldest(pending)
            while pending:
                await self._take_oldest(pending)
        finally:
            for _, publication in pending:
                publication.cancel()
            await asyncio.gather(*(p for _, p in pending), return_exceptions=True)
            if self.core.cursor(stream) != before:
                self._cursor.save(stream, self.core.cursor(stream))
        return True

    async def _take_oldest(self, pending: deque[tuple[MqttMessage, asyncio.Future[None]]]) -> None:
        message, publication = pending[0]
        await publication
        pending.popleft()
        self.core.acknowledged(message)
        self.published += 1

    async def _sleep_until(self, deadline: float) -> None:
        delay = deadline - asyncio.get_running_loop().time()
        if delay > 0 and not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry.wait(), delay)
        self._retry.clear()

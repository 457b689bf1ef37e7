"""The PANA join inside a simulated dongle: a real PaC against the meter's real PAA.

The dongle's PANA client (RFC 5191) runs EAP-PSK (RFC 4764) keyed from the
B-route ID and password the host gave it; the meter's PANA agent checks them
against its own. Every PANA message crosses the :class:`~smartmeter_proto.sim.radio.RadioLink` as
802.15.4/6LoWPAN frames, so a join succeeds or fails because the cryptography
does, and a capture holds the whole exchange. The dongle model decides what
the host sees of it (SKSTACK: EVENT 21 per message sent, ERXUDP per message
received, EVENT 25/24; J11: a PANA result notification) through
:class:`PanaListener`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final, Protocol

from ...auth.eap_psk import EapPskPeer, EapPskServer
from ...wisun.broute.auth import MeterCredentials, peer_identity, psk_from_password
from ...wisun.radio.pana.message import PANA_UDP_PORT, IntegrityAlgorithm, PrfAlgorithm
from ...wisun.radio.pana.session import (
    AuthenticationFailed,
    PanaAgent,
    PanaClient,
    PeerUnreachable,
    ReauthenticationStarted,
    SessionEstablished,
    SessionTerminated,
)
from ..radio import RadioLink

__all__ = ["PANA_PORT", "PanaDriver", "PanaListener"]

PANA_PORT: Final = PANA_UDP_PORT  # RFC 5191 §11

Schedule = Callable[[float, Callable[[float], None], str], None]


class PanaListener(Protocol):
    """What a dongle model shows its host of the PANA exchange."""

    def pana_sent(self, now: float, *, retransmission: bool) -> None:
        """The dongle put a PANA message on air (maybe again)."""

    def pana_received(self, message: bytes, now: float) -> None:
        """A PANA message from the meter arrived."""

    def pana_established(self, now: float, *, fresh: bool) -> None:
        """Authentication (first or re-) succeeded."""

    def pana_failed(self, reason: str, now: float) -> None:
        """Authentication failed, or the meter never answered."""

    def pana_reauthenticating(self, now: float) -> None:
        """The session's key is being renewed (lifetime or a peer asked)."""

    def pana_terminated(self, now: float, *, answered: bool) -> None:
        """The session ended (``answered``: the meter confirmed the termination)."""


class PanaDriver:
    """One dongle-meter PANA relationship, run on the dongle's timers.

    ``schedule(when, callback, tag)`` and ``cancel(tag)`` are the dongle's
    timer functions; ``silent(now)`` says whether the meter is off the air;
    ``latency`` is the one-way radio delay.
    """

    _TIMER_TAG: Final = "pana-timer"

    def __init__(
        self,
        *,
        radio: RadioLink,
        meter: MeterCredentials,
        listener: PanaListener,
        schedule: Schedule,
        cancel: Callable[[str], None],
        silent: Callable[[float], bool],
        latency: float,
        lifetime: int,
        rng: random.Random,
    ) -> None:
        self._radio = radio
        self._meter = meter
        self._listener = listener
        self._schedule = schedule
        self._cancel = cancel
        self._silent = silent
        self._latency = latency
        self._lifetime = lifetime
        self._rng = rng
        self._client: PanaClient | None = None
        self._agent: PanaAgent | None = None
        self._fresh = True
        self._terminating = False
        self._last_sent = b""
        self.established = False

    # ------------------------------------------------------------------ host-side commands
    def join(self, rbid: str, password: str, now: float, *, refuse: bool = False) -> None:
        """Start a fresh session with the host's credentials (``refuse``: the meter fails it)."""
        self.abort()
        id_p, psk = peer_identity(rbid), psk_from_password(password)
        self._client = PanaClient(
            lambda: EapPskPeer(id_p, psk, random_bytes=self._bytes),
            now=now,
            random_bytes=self._bytes,
        )
        meter = self._meter.refusing() if refuse else self._meter
        self._agent = PanaAgent(
            lambda: EapPskServer(meter.identity, meter.psk_for, random_bytes=self._bytes),
            now=now,
            lifetime=self._lifetime,
            random_bytes=self._bytes,
            # [WSUHA]: the meter offers exactly one of each.
            prf_algorithms=(PrfAlgorithm.PRF_HMAC_SHA2_256,),
            integrity_algorithms=(IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128,),
        )
        self._fresh = True
        self._client.start(now)
        self._pump(now)

    def reauthenticate(self, now: float) -> bool:
        """Re-authenticate the session that is up; False when there is none."""
        if self._client is None or not self.established:
            return False
        self._client.reauthenticate(now)
        self._pump(now)
        return True

    def terminate(self, now: float) -> bool:
        """End the session that is up; False when there is none."""
        if self._client is None or not self.established:
            return False
        self._terminating = True
        self.established = False
        self._client.terminate(now)
        self._pump(now)
        return True

    def abort(self) -> None:
        """Forget the session without a word on air (reset, link lost)."""
        self._cancel(self._TIMER_TAG)
        self._client = None
        self._agent = None
        self.established = False
        self._terminating = False
        self._last_sent = b""

    # ------------------------------------------------------------------ plumbing
    def _bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)  # a simulation: seeded, reproducible nonces

    def _pump(self, now: float) -> None:
        client, agent = self._client, self._agent
        if client is None or agent is None:
            return
        events = client.events()
        agent.events()
        # A re-authentication shows before its first message; outcomes after the last one.
        for event in events:
            if isinstance(event, ReauthenticationStarted):
                self._on_event(event, now)
        for datagram in client.datagrams_to_send():
            self._listener.pana_sent(now, retransmission=datagram == self._last_sent)
            self._last_sent = datagram
            frames = self._radio.transmit(datagram, now, from_meter=False, port=PANA_PORT)
            if not self._silent(now):
                self._schedule(now + self._latency, self._to_meter(frames), "pana")
        if not self._silent(now):
            for datagram in agent.datagrams_to_send():
                frames = self._radio.transmit(datagram, now, from_meter=True, port=PANA_PORT)
                self._schedule(now + self._latency, self._to_dongle(frames), "pana")
        else:
            agent.datagrams_to_send()  # the meter is off the air: nothing leaves it
        for event in events:
            if not isinstance(event, ReauthenticationStarted):
                self._on_event(event, now)
        self._rearm()

    def _to_meter(self, frames: list[bytes]) -> Callable[[float], None]:
        def arrive(now: float) -> None:
            datagram = self._radio.receive(frames, now, at_meter=True)
            if datagram is not None and self._agent is not None and not self._silent(now):
                self._agent.receive(datagram.payload, now)
                self._pump(now)

        return arrive

    def _to_dongle(self, frames: list[bytes]) -> Callable[[float], None]:
        def arrive(now: float) -> None:
            datagram = self._radio.receive(frames, now, at_meter=False)
            if datagram is not None and self._client is not None:
                self._listener.pana_received(datagram.payload, now)
                self._client.receive(datagram.payload, now)
                self._pump(now)

        return arrive

    def _rearm(self) -> None:
        self._cancel(self._TIMER_TAG)
        deadlines = [
            d
            for d in (
                self._client.next_deadline() if self._client else None,
                self._agent.next_deadline() if self._agent else None,
            )
            if d is not None
        ]
        if deadlines:
            self._schedule(min(deadlines), self._on_timer, self._TIMER_TAG)

    def _on_timer(self, now: float) -> None:
        if self._client is not None:
            self._client.handle_timeout(now)
        if self._agent is not None:
            self._agent.handle_timeout(now)
        self._pump(now)

    def _on_event(self, event: object, now: float) -> None:
        if isinstance(event, SessionEstablished):
            self.established = True
            self._listener.pana_established(now, fresh=self._fresh)
        elif isinstance(event, ReauthenticationStarted):
            self.established = False
            self._fresh = False
            self._listener.pana_reauthenticating(now)
        elif isinstance(event, AuthenticationFailed):
            self.established = False
            self._listener.pana_failed(event.reason, now)
            self.abort()
        elif isinstance(event, SessionTerminated):
            self._listener.pana_terminated(now, answered=True)
            self.abort()
        elif isinstance(event, PeerUnreachable):
            if self._terminating:
                self._listener.pana_terminated(now, answered=False)
            else:
                self._listener.pana_failed("the meter does not answer", now)
            self.abort()

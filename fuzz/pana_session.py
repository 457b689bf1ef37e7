"""Fuzz ``wisun.pana_session``: a PaC and a PAA fed datagrams never raise.

Input: datagrams, each behind a 2-byte big-endian length (a last, short record is
taken as it is). Every datagram goes to both a :class:`PanaClient` (started, so it
waits for the PAR(S)) and a :class:`PanaAgent`, with real EAP-PSK peers and a fixed
``random_bytes``, so a recorded join replays: each side drops the other's own
messages. The clock moves 0.5 s per datagram and timers fire when due.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from _harness import Target, main

if TYPE_CHECKING:  # imported lazily: atheris instruments the library before it loads
    from smartmeter_proto.wisun.radio.pana.session import PanaAgent, PanaClient

PSK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
ID_P = b"0123456789AB"
ID_S = b"SM" + b"0" * 24 + b"0194BFAD"
SESSION_ID = 0x136F0BFE
STEP_S = 0.5
LENGTH_PREFIX = 2


def fixed_random(n: int) -> bytes:
    """Deterministic "random" bytes: the same for every call of the same size."""
    return bytes((17 * i + 101) & 0xFF for i in range(n))


def split(data: bytes) -> list[bytes]:
    """The datagrams of an input: 2-byte length, then that many bytes (or what is left)."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        size = int.from_bytes(data[at : at + LENGTH_PREFIX], "big")
        at += LENGTH_PREFIX
        out.append(data[at : at + size])
        at += size
    return out


def join(records: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(LENGTH_PREFIX, "big") + r for r in records)


def _endpoints(now: float) -> tuple[PanaClient, PanaAgent]:
    from smartmeter_proto.auth.eap_psk import EapPskPeer, EapPskServer
    from smartmeter_proto.wisun.radio.pana.session import PanaAgent, PanaClient

    def peer() -> EapPskPeer:
        return EapPskPeer(ID_P, PSK, random_bytes=fixed_random)

    def server() -> EapPskServer:
        return EapPskServer(ID_S, {ID_P: PSK}.get, random_bytes=fixed_random)

    client = PanaClient(peer, now=now, random_bytes=fixed_random)
    agent = PanaAgent(server, now=now, random_bytes=fixed_random, session_id=SESSION_ID)
    return client, agent


def build() -> Target:
    def call(data: bytes) -> object:
        client, agent = _endpoints(0.0)
        client.start(0.0)
        client.datagrams_to_send()
        now = 0.0
        events: list[object] = []
        sides: tuple[PanaClient | PanaAgent, ...] = (client, agent)
        for datagram in split(data):
            now += STEP_S
            for side in sides:
                side.receive(datagram, now)
                deadline = side.next_deadline()
                if deadline is not None and deadline <= now:
                    side.handle_timeout(now)
                side.datagrams_to_send()
                events += side.events()
        return events, client.state, agent.state, client.dropped, agent.dropped

    return Target("pana_session", call, (), "bytes")


def record_join(after: Callable[[PanaClient, PanaAgent, float], None] | None = None) -> list[bytes]:
    """Every datagram of a PaC-PAA join (configured as in :func:`build`), in order.

    ``after(client, agent, now)`` runs once the session is open (ping, terminate...),
    and what it sends is recorded too.
    """
    client, agent = _endpoints(0.0)
    client.start(0.0)
    records: list[bytes] = []
    now = 0.0

    def pump() -> None:
        moved = True
        while moved:
            moved = False
            pairs: tuple[tuple[PanaClient | PanaAgent, PanaClient | PanaAgent], ...] = (
                (client, agent),
                (agent, client),
            )
            for sender, receiver in pairs:
                for datagram in sender.datagrams_to_send():
                    moved = True
                    records.append(datagram)
                    receiver.receive(datagram, now)

    pump()
    if after is not None:
        after(client, agent, now)
        pump()
    return records


def seeds() -> dict[str, bytes]:
    """Recorded joins (plain, then ping, re-authentication, termination), cut and mixed."""
    from pana_message import real_messages

    def ping(client: PanaClient, _agent: PanaAgent, now: float) -> None:
        client.ping(now)

    def reauth(client: PanaClient, _agent: PanaAgent, now: float) -> None:
        client.reauthenticate(now)

    def terminate(client: PanaClient, _agent: PanaAgent, now: float) -> None:
        client.terminate(now)

    def agent_terminate(_client: PanaClient, agent: PanaAgent, now: float) -> None:
        agent.terminate(now)

    joined = record_join()
    out = {
        "join": join(joined),
        "join-ping": join(record_join(ping)),
        "join-reauth": join(record_join(reauth)),
        "join-terminate": join(record_join(terminate)),
        "join-agent-terminate": join(record_join(agent_terminate)),
        "join-half": join(joined[: len(joined) // 2]),
        "join-repeated": join([r for r in joined for _ in range(2)]),
        "join-reversed": join(joined[::-1]),
        "join-last-cut": join(joined)[:-7],
        "real-wsuha": join([v for k, v in real_messages().items() if k.startswith("wsuha")]),
        "edge-empty": b"",
        "edge-zero-lengths": bytes(8),
    }
    return out


if __name__ == "__main__":
    sys.exit(main("pana_session"))

"""The one UDP datagram adapter: any endpoint of the contract, on real loopback sockets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from smartmeter_proto.aroute.udp_endpoints import HeadEndEndpoint, MeterEndpoint
from smartmeter_proto.echonet.events import MULTICAST
from smartmeter_proto.echonet.session import Session
from smartmeter_proto.errors import TransportError
from smartmeter_proto.iot.headend import HeadEnd
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.transport.datagram import DatagramEndpoint, DatagramLink, serve_endpoint
from smartmeter_proto.transport.udp import UDPLink
from smartmeter_proto.transport.virtual_time import VirtualTimeRunner

HOST_A, HOST_B = "127.0.0.71", "127.0.0.72"


@dataclass
class Echo:
    """Answers every datagram with its bytes reversed; sends ``b"tick"`` at each deadline."""

    period: float = 10.0
    start: float = 0.0
    outbox: list[tuple[bytes, Any]] = field(default_factory=list)
    seen: list[tuple[bytes, Any, float]] = field(default_factory=list)
    ticks: int = 0
    peer: tuple[str, int] | None = None

    def receive_datagram(self, data: bytes, source: Any, now: float) -> list[str]:
        self.seen.append((data, source, now))
        if not data.startswith(b"re:"):
            self.outbox.append((b"re:" + data[::-1], source))
        return [f"got {data!r}"]

    def datagrams_to_send(self) -> list[tuple[bytes, Any]]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline(self) -> float | None:
        return None if self.peer is None else self.start + self.period * (self.ticks + 1)

    def handle_timeout(self, now: float) -> list[str]:
        if self.peer is not None and now >= self.next_deadline():  # type: ignore[operator]
            self.ticks += 1
            self.outbox.append((b"tick", self.peer))
        return ["tick"]


def test_every_endpoint_of_the_library_fits_the_contract() -> None:
    for endpoint in (Session, HeadEnd, MeterEndpoint, HeadEndEndpoint):
        for method in ("receive_datagram", "datagrams_to_send", "next_deadline", "handle_timeout"):
            assert callable(getattr(endpoint, method)), (endpoint, method)
    assert issubclass(UDPLink, DatagramLink)  # ECHONET rides the same adapter


def test_two_endpoints_talk_and_fire_their_timers_in_virtual_time(
    virtual_clock: VirtualClock,
) -> None:
    async def main() -> None:
        a, b = Echo(start=virtual_clock.now), Echo(start=virtual_clock.now)
        events: list[Any] = []
        async with (
            serve_endpoint(
                a, (HOST_A, 0), clock=virtual_clock, run_timers=False, on_events=events.append
            ) as link_a,
            serve_endpoint(b, (HOST_B, 0), clock=virtual_clock, run_timers=False) as link_b,
        ):
            a.peer = link_b.address
            runner = VirtualTimeRunner(virtual_clock, [link_a, link_b])
            await runner.run_until(virtual_clock.now + 35.0)
            # Three ticks from A (at +10, +20, +30), each answered by B.
            assert a.ticks == 3
            assert [d for d, _, _ in b.seen] == [b"tick"] * 3
            assert [d for d, _, _ in a.seen] == [b"re:kcit"] * 3
            assert {s for _, s, _ in a.seen} == {link_b.address}
            assert [t for _, _, t in b.seen] == [
                virtual_clock.now - 35.0 + 10.0 * k for k in (1, 2, 3)
            ]
            assert events == [["tick"], ["got b're:kcit'"]] * 3  # each call's events, in order
            assert (link_a.sent, link_b.received) == (3, 3)

    asyncio.run(main())


def test_send_filter_drops_and_counts(virtual_clock: VirtualClock) -> None:
    async def main() -> None:
        a, b = Echo(start=virtual_clock.now), Echo()

        def lossy(data: bytes, destination: Any) -> bool:
            return data != b"tick" or a.ticks % 2 == 0  # every other tick lost

        async with (
            serve_endpoint(
                a, (HOST_A, 0), clock=virtual_clock, run_timers=False, send_filter=lossy
            ) as link_a,
            serve_endpoint(b, (HOST_B, 0), clock=virtual_clock, run_timers=False) as link_b,
        ):
            a.peer = link_b.address
            await VirtualTimeRunner(virtual_clock, [link_a, link_b]).run_until(
                virtual_clock.now + 40.0
            )
            assert a.ticks == 4
            assert (link_a.filtered, link_a.sent, len(b.seen)) == (2, 2, 2)

    asyncio.run(main())


def test_reply_port_redirects_unicast_and_bad_destinations_are_refused() -> None:
    async def main() -> None:
        a, b = Echo(), Echo()
        async with serve_endpoint(b, (HOST_B, 0)) as link_b:
            link = DatagramLink(a, local=(HOST_A, 0), reply_port=link_b.address[1])
            async with link:
                link.send(b"hello", (HOST_B, 9))  # port 9, redirected to B's port
                for _ in range(200):
                    if b.seen:
                        break
                    await asyncio.sleep(0.005)
                assert [d for d, _, _ in b.seen] == [b"hello"]
                with pytest.raises(TransportError, match="not a UDP address"):
                    link.send(b"x", "nowhere")
                with pytest.raises(TransportError, match="no multicast group"):
                    link.send(b"x", MULTICAST)
            with pytest.raises(TransportError, match="not open"):
                link.send(b"x", link_b.address)

    asyncio.run(main())


def test_a_busy_address_is_one_clear_error() -> None:
    async def main() -> None:
        async with serve_endpoint(Echo(), (HOST_A, 0)) as first:
            with pytest.raises(TransportError, match="already in use"):
                async with serve_endpoint(Echo(), first.address):
                    pass

    asyncio.run(main())


def test_the_echonet_link_is_a_datagram_link_with_a_session() -> None:
    async def main() -> None:
        link = UDPLink(Session(), local=(HOST_A, 0), join_group=False)
        endpoint: DatagramEndpoint = link.endpoint
        assert endpoint is link.session
        async with link:
            assert link.address[0] == HOST_A
            assert link.group == ("224.0.23.0", 3610)

    asyncio.run(main())

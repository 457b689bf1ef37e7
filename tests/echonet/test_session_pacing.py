"""Sans-IO: per-node pacing and Get batches that shrink to what a gateway accepts."""

from __future__ import annotations

import pytest

from smartmeter_proto.echonet import frame as _frame
from smartmeter_proto.echonet.events import RequestDone
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.session import (
    BROUTE_RESPONSE_WAIT_S,
    LAN_RESPONSE_WAIT_S,
    Session,
)
from smartmeter_proto.errors import SessionError
from smartmeter_proto.sim.device import device_node

NODE = ("192.0.2.10", 3610)
OTHER = ("192.0.2.11", 3610)
AIRCON = EOJ(0x01, 0x30, 1)


class DroppingGateway:
    """A simulated air conditioner behind a gateway that drops any Get of more than ``most``."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.node = device_node([0x0130])
        self.gets: list[int] = []

    def deliver(self, data: bytes, now: float) -> list[bytes]:
        request = _frame.decode(data)
        assert isinstance(request, Frame)
        if request.esv is ESV.GET:
            self.gets.append(len(request.properties))
            if len(request.properties) > self.most:
                return []
        self.node.receive_data(data, ("192.0.2.1", 3610), now)
        return [d for d, _ in self.node.datagrams_to_send() if _frame.decode(d).esv != ESV.INF]


def _drive(session: Session, gateway: DroppingGateway, request_id: int) -> RequestDone:
    """Run the exchange on virtual time: answer what the gateway answers, fire the timers."""
    now = 0.0
    for _ in range(200):
        out = session.datagrams_to_send()
        assert len(out) <= session.max_in_flight  # one outstanding request per node
        events = []
        for data, _dest in out:
            for answer in gateway.deliver(data, now):
                events += session.receive_data(answer, NODE, now)
        if not out or not events:
            deadline = session.next_deadline()
            assert deadline is not None
            now = deadline
            events += session.handle_timeout(now)
        for event in events:
            if isinstance(event, RequestDone) and event.request_id == request_id:
                return event
    raise AssertionError("the request never finished")


def test_gets_shrink_to_what_the_node_accepts_and_lose_nothing() -> None:
    gateway = DroppingGateway(most=5)
    session = Session(timeout=LAN_RESPONSE_WAIT_S, max_properties=16)
    aircon = gateway.node.objects[AIRCON]
    epcs = sorted(e for e in aircon.supported if "get" in aircon.access(e))
    assert len(epcs) > 20
    done = _drive(session, gateway, session.get(NODE, AIRCON, epcs, now=0.0))
    assert done.ok
    assert set(done.values) == set(epcs)  # no property lost
    # Later requests converge to the largest batch the node serves, and keep it.
    for _ in range(3):
        done = _drive(session, gateway, session.get(NODE, AIRCON, epcs, now=0.0))
        assert set(done.values) == set(epcs)
    assert session.batch_limit(NODE) == 5
    gateway.gets.clear()
    done = _drive(session, gateway, session.get(NODE, AIRCON, epcs, now=0.0))
    assert max(gateway.gets) == 5
    assert set(done.values) == set(epcs)
    # The limit is per node: another node starts from the configured ceiling.
    assert session.batch_limit(OTHER) == 16


def test_sna_of_a_large_get_is_asked_again_in_halves() -> None:
    session = Session(max_properties=8)
    session.get(NODE, AIRCON, range(0x80, 0x88), now=0.0)
    ((data, _),) = session.datagrams_to_send()
    request = _frame.decode(data)
    assert isinstance(request, Frame)
    refusal = Frame(request.tid, AIRCON, request.seoj, ESV.GET_SNA, request.properties)
    assert session.receive_data(_frame.encode(refusal), NODE, 0.1) == []
    ((again, _),) = session.datagrams_to_send()
    second = _frame.decode(again)
    assert isinstance(second, Frame)
    assert len(second.properties) == 4
    assert session.batch_limit(NODE) == 4


def test_one_outstanding_request_per_node_others_queue() -> None:
    session = Session()
    first = session.get(NODE, AIRCON, [0x80], now=0.0)
    session.get(NODE, AIRCON, [0xB3], now=0.0)
    session.get(OTHER, AIRCON, [0x80], now=0.0)
    sent = session.datagrams_to_send()
    assert [dest for _, dest in sent] == [NODE, OTHER]  # the second Get to NODE waits
    request = _frame.decode(sent[0][0])
    assert isinstance(request, Frame)
    answer = Frame(request.tid, AIRCON, request.seoj, ESV.GET_RES, (Property(0x80, b"\x30"),))
    events = session.receive_data(_frame.encode(answer), NODE, 0.1)
    assert any(isinstance(e, RequestDone) and e.request_id == first for e in events)
    ((queued, dest),) = session.datagrams_to_send()
    assert dest == NODE
    assert [p.epc for p in _frame.decode(queued).properties] == [0xB3]  # type: ignore[union-attr]


def test_response_wait_per_transport() -> None:
    assert BROUTE_RESPONSE_WAIT_S >= 20.0  # AIF ver. 1.10 §2.4.2
    assert LAN_RESPONSE_WAIT_S < BROUTE_RESPONSE_WAIT_S
    for wait in (LAN_RESPONSE_WAIT_S, BROUTE_RESPONSE_WAIT_S):
        session = Session(timeout=wait, retries=0)
        session.get(NODE, AIRCON, [0x80], now=100.0)
        assert session.next_deadline() == 100.0 + wait
        assert session.handle_timeout(100.0 + wait - 0.001) == []


def test_the_queue_per_node_is_bounded() -> None:
    """A caller asking faster than a node answers meets back-pressure, not unbounded memory."""
    session = Session(max_queued=4)
    node = ("192.0.2.10", 3610)
    meter = EOJ(0x02, 0x88, 0x01)
    for _ in range(5):  # one in flight, four waiting
        session.get(node, meter, [0xE7], 0.0)
    with pytest.raises(SessionError, match="max_queued=4"):
        session.get(node, meter, [0xE7], 0.0)
    assert len(session.datagrams_to_send()) == 1
    other = ("192.0.2.11", 3610)
    session.get(other, meter, [0xE7], 0.0)  # another node is not held up

"""Sans-IO ECHONET Lite client (``smartmeter_proto.echonet.session``), driven with fake time.

Nothing here sleeps: time is the ``now`` argument, timers fire through ``next_deadline()`` and
``handle_timeout(now)``. Meter answers are real B-route frames where one exists
(``tests/vectors/echonet``, sources named there), otherwise built with the frame codec.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.events import (
    MULTICAST,
    DiscoveredNode,
    FrameDropped,
    NodeDiscovered,
    Notification,
    RequestDone,
    RequestFailed,
    Response,
)
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.session import CONTROLLER, Session

METER: Final = EOJ(0x02, 0x88, 0x01)
METER_ADDR: Final = ("fe80::21d:1291:4:e578", 3610)
OTHER_ADDR: Final = ("fe80::99", 3610)
#: Qiita 74f11b729a7859da63af (tests/vectors/echonet/b_route_nerves_qiita.hex).
QIITA_GET_E7: Final = bytes.fromhex("1081525305FF010288016201E700")
QIITA_GET_RES_E7: Final = bytes.fromhex("1081525302880105FF017201E704000000E4")
QIITA_INF_EA_EB: Final = bytes.fromhex(
    "1081000102880105FF017302EA0B07E70C13001E000000458EEB0B07E70C13001E0000000015"
)
#: Home-meter capture (tests/vectors/echonet/b_route_home_meter.hex): 0x83 refused.
HOME_GET_SNA_83: Final = bytes.fromhex("1081000102880105FF0152018300")


def _sent(session: Session) -> list[tuple[Frame, Any]]:
    out = []
    for data, address in session.datagrams_to_send():
        decoded = el_frame.decode(data)
        assert isinstance(decoded, Frame)
        out.append((decoded, address))
    return out


def _only(session: Session) -> tuple[Frame, Any]:
    sent = _sent(session)
    assert len(sent) == 1, sent
    return sent[0]


def _answer(
    request: Frame,
    esv: ESV,
    props: Iterable[Property],
    gets: Iterable[Property] = (),
    seoj: EOJ | None = None,
    tid: int | None = None,
) -> bytes:
    frame = Frame(
        request.tid if tid is None else tid,
        request.deoj if seoj is None else seoj,
        request.seoj,
        esv,
        tuple(props),
        tuple(gets),
    )
    return el_frame.encode(frame)


def _of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def _done(events: list[Any]) -> RequestDone:
    (done,) = _of(events, RequestDone)
    assert isinstance(done, RequestDone)
    return done


# --- one Get, real bytes both ways ----------------------------------------------------------


def test_get_sends_the_same_bytes_a_real_client_sent_and_reads_the_answer() -> None:
    session = Session(first_tid=0x5253)
    request_id = session.get(METER_ADDR, METER, [0xE7], now=0.0)
    assert session.datagrams_to_send() == [(QIITA_GET_E7, METER_ADDR)]
    assert session.datagrams_to_send() == []
    assert session.pending == 1
    events = session.receive_data(QIITA_GET_RES_E7, METER_ADDR, now=0.4)
    (response,) = _of(events, Response)
    assert response.request_id == request_id
    assert response.source == METER_ADDR
    assert [(v.epc, v.value) for v in response.values] == [(0xE7, 228)]
    done = _done(events)
    assert done.request_id == request_id
    assert done.esv is ESV.GET_RES
    assert done.ok
    assert done[0xE7].value == 228
    assert done.responses == (response,)
    assert session.pending == 0
    assert session.next_deadline() is None
    assert (session.received, session.dropped) == (1, 0)


def test_duplicate_epcs_are_asked_once() -> None:
    session = Session()
    session.get(METER_ADDR, METER, [0xE7, 0xE8, 0xE7], now=0.0)
    request, _ = _only(session)
    assert request.epcs == (0xE7, 0xE8)


def test_requests_need_properties() -> None:
    session = Session()
    with pytest.raises(ValueError, match="EPC"):
        session.get(METER_ADDR, METER, [], now=0.0)
    with pytest.raises(ValueError, match="EPC"):
        session.inf_req(METER_ADDR, METER, [], now=0.0)
    with pytest.raises(ValueError, match="property"):
        session.set(METER_ADDR, METER, {}, now=0.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0}, {"retries": -1}, {"max_properties": 0}, {"max_response_size": 14}],
)
def test_constructor_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - one message covers several limits
        Session(**kwargs)


# --- TIDs -----------------------------------------------------------------------------------


def test_tids_count_up_and_wrap() -> None:
    session = Session(first_tid=0xFFFE, max_in_flight=0)
    for _ in range(3):
        session.get(METER_ADDR, METER, [0xE7], now=0.0)
    assert [f.tid for f, _ in _sent(session)] == [0xFFFE, 0xFFFF, 0x0000]


def test_tids_in_use_are_skipped_and_exhaustion_is_reported() -> None:
    session = Session(first_tid=0, max_in_flight=0)
    for _ in range(0x10000):
        session.get(METER_ADDR, METER, [0xE7], now=0.0)
    assert session.pending == 0x10000
    with pytest.raises(RuntimeError, match="65536"):
        session.get(METER_ADDR, METER, [0xE7], now=0.0)
    sent = [f for f, _ in _sent(session)]
    assert sorted(f.tid for f in sent) == list(range(0x10000))
    # Free TID 5; the next request wraps past 0..4, still waiting, and takes 5.
    session.receive_data(_answer(sent[5], ESV.GET_RES, [Property(0xE7, bytes(4))]), METER_ADDR, 1)
    session.get(METER_ADDR, METER, [0xE7], now=1.0)
    request, _ = _only(session)
    assert request.tid == 5


# --- matching answers -----------------------------------------------------------------------


def test_answers_from_the_wrong_object_or_tid_are_dropped_and_counted() -> None:
    session = Session()
    session.get(METER_ADDR, METER, [0xE7], now=0.0)
    request, _ = _only(session)
    value = [Property(0xE7, bytes.fromhex("000000E4"))]
    cases = [
        _answer(request, ESV.GET_RES, value, seoj=EOJ(0x02, 0x87, 0x01)),  # another class
        _answer(request, ESV.GET_RES, value, seoj=EOJ(0x02, 0x88, 0x02)),  # another instance
        _answer(request, ESV.GET_RES, value, tid=request.tid ^ 0xFFFF),  # unknown TID
        _answer(request, ESV.SET_RES, []),  # not an answer to a Get
    ]
    for number, data in enumerate(cases, start=1):
        events = session.receive_data(data, METER_ADDR, now=0.1)
        (dropped,) = events
        assert isinstance(dropped, FrameDropped)
        assert dropped.error is None
        assert session.dropped == number
        assert session.pending == 1
    events = session.receive_data(_answer(request, ESV.GET_RES, value), METER_ADDR, now=0.2)
    assert _done(events)[0xE7].value == 228
    assert (session.received, session.dropped) == (5, 4)


def test_instance_zero_accepts_any_instance_of_the_class() -> None:
    session = Session()
    session.get(METER_ADDR, EOJ(0x02, 0x88, 0x00), [0x80], now=0.0)
    request, _ = _only(session)
    assert request.deoj == EOJ(0x02, 0x88, 0x00)
    answer = _answer(request, ESV.GET_RES, [Property(0x80, b"\x30")], seoj=EOJ(2, 0x88, 3))
    done = _done(session.receive_data(answer, METER_ADDR, now=0.1))
    assert done[0x80].value == "on"
    # Another class is still wrong, even with instance 0.
    session.get(METER_ADDR, EOJ(0x02, 0x88, 0x00), [0x80], now=0.0)
    request, _ = _only(session)
    wrong = _answer(request, ESV.GET_RES, [Property(0x80, b"\x30")], seoj=EOJ(2, 0x87, 1))
    assert _of(session.receive_data(wrong, METER_ADDR, now=0.1), FrameDropped)


def test_second_answer_to_the_same_tid_is_dropped() -> None:
    session = Session()
    session.get(METER_ADDR, METER, [0x80], now=0.0)
    request, _ = _only(session)
    answer = _answer(request, ESV.GET_RES, [Property(0x80, b"\x30")])
    assert _of(session.receive_data(answer, METER_ADDR, now=0.1), RequestDone)
    assert _of(session.receive_data(answer, METER_ADDR, now=0.2), FrameDropped)


# --- retries --------------------------------------------------------------------------------


def test_retries_then_request_failed() -> None:
    session = Session(timeout=5.0, retries=2)
    request_id = session.get(METER_ADDR, METER, [0xE7], now=100.0)
    (first,) = session.datagrams_to_send()
    assert session.next_deadline() == 105.0
    assert session.handle_timeout(104.999) == []
    assert session.datagrams_to_send() == []
    for attempt in (1, 2):
        deadline = session.next_deadline()
        assert deadline == 100.0 + 5.0 * attempt
        assert session.handle_timeout(deadline) == []
        assert session.datagrams_to_send() == [first]  # same bytes, same TID
    events = session.handle_timeout(115.0)
    (failed,) = events
    assert isinstance(failed, RequestFailed)
    assert failed.request_id == request_id
    assert failed.attempts == 3
    assert "TID" in failed.reason
    assert "0xE7" in failed.reason
    assert session.datagrams_to_send() == []
    assert session.next_deadline() is None
    # The answer that finally comes is for nobody.
    late = session.receive_data(QIITA_GET_RES_E7, METER_ADDR, now=116.0)
    assert _of(late, FrameDropped)


def test_answer_after_a_retry_completes_the_request() -> None:
    session = Session(timeout=1.0, retries=1, first_tid=0x5253)
    session.get(METER_ADDR, METER, [0xE7], now=0.0)
    session.datagrams_to_send()
    session.handle_timeout(1.0)
    assert session.datagrams_to_send() == [(QIITA_GET_E7, METER_ADDR)]
    done = _done(session.receive_data(QIITA_GET_RES_E7, METER_ADDR, now=1.5))
    assert done[0xE7].value == 228
    assert session.handle_timeout(10.0) == []


def test_no_retries_fails_at_the_first_deadline() -> None:
    session = Session(timeout=2.0, retries=0)
    session.get(METER_ADDR, METER, [0xE7], now=0.0)
    session.datagrams_to_send()
    (failed,) = session.handle_timeout(2.0)
    assert isinstance(failed, RequestFailed)
    assert failed.attempts == 1


# --- splitting large Gets -------------------------------------------------------------------


def test_get_split_by_max_properties_merges_into_one_done() -> None:
    session = Session(max_properties=2, max_in_flight=0)
    epcs = [0x80, 0x88, 0xD7, 0xE1, 0xE7]
    request_id = session.get(METER_ADDR, METER, epcs, now=0.0)
    parts = [f for f, _ in _sent(session)]
    assert [p.epcs for p in parts] == [(0x80, 0x88), (0xD7, 0xE1), (0xE7,)]
    assert len({p.tid for p in parts}) == 3
    edts = {0x80: b"\x30", 0x88: b"\x42", 0xD7: b"\x06", 0xE1: b"\x01", 0xE7: b"\x00\x00\x02\x78"}
    events: list[Any] = []
    for part in (parts[2], parts[0], parts[1]):  # answers in any order
        answer = _answer(part, ESV.GET_RES, [Property(e, edts[e]) for e in part.epcs])
        events.extend(session.receive_data(answer, METER_ADDR, now=0.5))
        if part is not parts[1]:
            assert not _of(events, RequestDone)
    assert len(_of(events, Response)) == 3
    done = _done(events)
    assert done.request_id == request_id
    assert len(done.responses) == 3
    assert {epc: v.value for epc, v in done.values.items()} == {
        0x80: "on",
        0x88: "no_fault",
        0xD7: 6,
        0xE1: "0.1",
        0xE7: 632,
    }
    assert done.ok


def test_get_split_by_expected_answer_size() -> None:
    # 0xE2 and 0xE4 answer 194 bytes each: with room for 220 bytes they go in two frames.
    session = Session(max_response_size=220, max_in_flight=0)
    session.get(METER_ADDR, METER, [0xE2, 0xE7, 0xE4], now=0.0)
    assert [f.epcs for f, _ in _sent(session)] == [(0xE2, 0xE7), (0xE4,)]
    # EPCs no class file describes may answer 255 bytes: four fit the default 1232.
    session = Session(max_in_flight=0)
    session.get(METER_ADDR, EOJ(0x02, 0x99, 0x01), [0xF0, 0xF1, 0xF2, 0xF3, 0xF4], now=0.0)
    assert [len(f.epcs) for f, _ in _sent(session)] == [4, 1]


def test_split_get_without_answer_fails_once() -> None:
    session = Session(max_properties=1, timeout=1.0, retries=0, max_in_flight=0)
    session.get(METER_ADDR, METER, [0xE7, 0xE0], now=0.0)
    assert len(session.datagrams_to_send()) == 2
    events = session.handle_timeout(1.0)
    assert len(_of(events, RequestFailed)) == 1


def test_split_get_fails_if_one_part_is_never_answered() -> None:
    session = Session(max_properties=1, timeout=1.0, retries=0, max_in_flight=0)
    request_id = session.get(METER_ADDR, METER, [0xE7, 0xE0], now=0.0)
    first, _second = (f for f, _ in _sent(session))
    answer = _answer(first, ESV.GET_RES, [Property(0xE7, bytes(4))])
    events = session.receive_data(answer, METER_ADDR, now=0.5)
    assert _of(events, Response)
    assert not _of(events, RequestDone)
    failed = _of(session.handle_timeout(1.0), RequestFailed)
    assert failed
    assert {f.request_id for f in failed} == {request_id}
    assert session.pending == 0


# --- refusals -------------------------------------------------------------------------------


def test_real_get_sna_is_refused() -> None:
    session = Session(first_tid=1)
    session.get(METER_ADDR, METER, [0x83], now=0.0)
    request, _ = _only(session)
    assert (request.tid, request.seoj) == (1, CONTROLLER)
    done = _done(session.receive_data(HOME_GET_SNA_83, METER_ADDR, now=0.3))
    assert done.esv is ESV.GET_SNA
    assert done.refused == (0x83,)
    assert done.values == {}
    assert not done.ok


def test_partial_get_sna_keeps_what_was_served() -> None:
    session = Session()
    session.get(METER_ADDR, METER, [0xE7, 0xE3], now=0.0)
    request, _ = _only(session)
    answer = _answer(
        request, ESV.GET_SNA, [Property(0xE7, bytes.fromhex("FFFFFDF4")), Property(0xE3)]
    )
    assert not _of(session.receive_data(answer, METER_ADDR, now=0.1), RequestDone)
    # The refused EPC is asked once more on its own (a gateway may refuse for size).
    again, _ = _only(session)
    assert again.epcs == (0xE3,)
    refusal = _answer(again, ESV.GET_SNA, [Property(0xE3)])
    done = _done(session.receive_data(refusal, METER_ADDR, now=0.2))
    assert done.esv is ESV.GET_SNA
    assert done[0xE7].value == -524
    assert done.refused == (0xE3,)


def test_undecodable_answers_are_reported() -> None:
    session = Session()
    session.get(METER_ADDR, METER, [0xE7], now=0.0)
    request, _ = _only(session)
    done = _done(
        session.receive_data(
            _answer(request, ESV.GET_RES, [Property(0xE7, b"\x01")]), METER_ADDR, 0.1
        )
    )
    assert done.esv is ESV.GET_RES
    assert not done.ok
    ((epc, error),) = done.undecodable
    assert epc == 0xE7
    assert error.layer == "echonet-property"


# --- Set ------------------------------------------------------------------------------------


def test_setc_encodes_typed_values_and_completes_on_set_res() -> None:
    session = Session()
    session.set(METER_ADDR, METER, {0xE5: 3, 0x81: b"\x61"}, now=0.0)
    request, _ = _only(session)
    assert request.esv is ESV.SETC
    assert request.properties == (Property(0xE5, b"\x03"), Property(0x81, b"\x61"))
    answer = _answer(request, ESV.SET_RES, [Property(0xE5), Property(0x81)])
    done = _done(session.receive_data(answer, METER_ADDR, now=0.1))
    assert done.esv is ESV.SET_RES
    assert done.ok
    assert done.values == {}


def test_setc_sna_echoes_the_refused_edt() -> None:
    session = Session()
    session.set(METER_ADDR, METER, {0xE5: 3, 0x80: "off"}, now=0.0)
    request, _ = _only(session)
    answer = _answer(request, ESV.SETC_SNA, [Property(0xE5), Property(0x80, b"\x31")])
    done = _done(session.receive_data(answer, METER_ADDR, now=0.1))
    assert done.esv is ESV.SETC_SNA
    assert done.refused == (0x80,)
    assert done.values == {}


def test_seti_silence_means_accepted_at_the_deadline() -> None:
    session = Session(timeout=3.0, retries=2)
    request_id = session.set(METER_ADDR, METER, {0xE5: 1}, now=10.0, confirm=False)
    request, _ = _only(session)
    assert request.esv is ESV.SETI
    assert session.handle_timeout(12.9) == []
    assert session.next_deadline() == 13.0
    done = _done(session.handle_timeout(13.0))
    assert done.request_id == request_id
    assert done.esv is ESV.SET_RES
    assert done.ok
    assert done.responses == ()
    assert session.datagrams_to_send() == []  # never retransmitted


def test_seti_sna_is_a_refusal() -> None:
    session = Session()
    session.set(METER_ADDR, METER, {0x80: "off"}, now=0.0, confirm=False)
    request, _ = _only(session)
    answer = _answer(request, ESV.SETI_SNA, [Property(0x80, b"\x31")])
    done = _done(session.receive_data(answer, METER_ADDR, now=0.1))
    assert done.esv is ESV.SETI_SNA
    assert done.refused == (0x80,)
    assert session.handle_timeout(100.0) == []


def test_setget_sends_both_lists_and_reads_the_get_list() -> None:
    session = Session()
    session.set_get(METER_ADDR, METER, {0xE5: 1}, [0xE2, 0xE2], now=0.0)
    request, _ = _only(session)
    assert request.esv is ESV.SETGET
    assert request.properties == (Property(0xE5, b"\x01"),)
    assert request.get_properties == (Property(0xE2),)
    history = bytes.fromhex("0001") + bytes.fromhex("FFFFFFFE") * 48
    answer = _answer(request, ESV.SETGET_RES, [Property(0xE5)], [Property(0xE2, history)])
    done = _done(session.receive_data(answer, METER_ADDR, now=0.1))
    assert done.esv is ESV.SETGET_RES
    assert set(done.values) == {0xE2}
    assert done[0xE2].value["day"] == 1
    assert done[0xE2].value["energy"] == (None,) * 48
    assert done.ok


def test_setget_sna_refuses_from_both_lists() -> None:
    session = Session()
    session.set_get(METER_ADDR, METER, {0xE5: 1, 0x80: "on"}, [0xE7, 0xE3], now=0.0)
    request, _ = _only(session)
    answer = _answer(
        request,
        ESV.SETGET_SNA,
        [Property(0xE5), Property(0x80, b"\x30")],
        [Property(0xE7, bytes.fromhex("000000E4")), Property(0xE3)],
    )
    done = _done(session.receive_data(answer, METER_ADDR, now=0.1))
    assert done.esv is ESV.SETGET_SNA
    assert done.refused == (0x80, 0xE3)
    assert done[0xE7].value == 228


# --- notifications --------------------------------------------------------------------------


def test_inf_req_is_answered_by_inf() -> None:
    session = Session()
    session.inf_req(METER_ADDR, METER, [0x80], now=0.0)
    request, _ = _only(session)
    assert request.esv is ESV.INF_REQ
    events = session.receive_data(
        _answer(request, ESV.INF, [Property(0x80, b"\x30")]), METER_ADDR, now=0.2
    )
    assert not _of(events, Notification)
    done = _done(events)
    assert done.esv is ESV.INF
    assert done[0x80].value == "on"


def test_unsolicited_inf_is_a_notification() -> None:
    session = Session(first_tid=100)
    events = session.receive_data(QIITA_INF_EA_EB, METER_ADDR, now=0.0)
    (note,) = events
    assert isinstance(note, Notification)
    assert not note.confirmed
    assert note.source == METER_ADDR
    assert note.frame.tid == 1
    assert {v.epc: v.value["energy"] for v in note.values} == {0xEA: 17806, 0xEB: 21}
    assert session.datagrams_to_send() == []
    assert session.dropped == 0


def test_periodic_inf_is_not_lost_while_a_get_with_the_same_tid_waits() -> None:
    session = Session(first_tid=1)
    session.get(METER_ADDR, METER, [0xE7], now=0.0)
    request, _ = _only(session)
    assert request.tid == 1
    events = session.receive_data(QIITA_INF_EA_EB, METER_ADDR, now=0.1)
    assert _of(events, Notification)


def test_infc_is_acknowledged_with_pdc_zero() -> None:
    session = Session()
    infc = Frame(
        0x1234,
        METER,
        CONTROLLER,
        ESV.INFC,
        (Property(0xE7, bytes.fromhex("000000E4")), Property(0x80, b"\x30")),
    )
    events = session.receive_data(el_frame.encode(infc), METER_ADDR, now=0.0)
    (note,) = events
    assert isinstance(note, Notification)
    assert note.confirmed
    assert {v.epc: v.value for v in note.values} == {0xE7: 228, 0x80: "on"}
    ((reply, address),) = session.datagrams_to_send()
    assert address == METER_ADDR
    assert reply == bytes.fromhex("1081 1234 05FF01 028801 7A 02 E700 8000".replace(" ", ""))


# --- multicast ------------------------------------------------------------------------------


def test_multicast_get_collects_answers_until_the_deadline() -> None:
    session = Session(timeout=2.0, retries=3)
    everyone = EOJ(0x0E, 0xF0, 0x00)
    request_id = session.get(MULTICAST, everyone, [0xD6], now=0.0)
    request, address = _only(session)
    assert address is MULTICAST
    first = _answer(
        request,
        ESV.GET_RES,
        [Property(0xD6, bytes.fromhex("01028801"))],
        seoj=EOJ(0x0E, 0xF0, 0x01),
    )
    second = _answer(
        request,
        ESV.GET_RES,
        [Property(0xD6, bytes.fromhex("0105FF01"))],
        seoj=EOJ(0x0E, 0xF0, 0x01),
    )
    events = session.receive_data(first, METER_ADDR, now=0.5)
    events += session.receive_data(second, OTHER_ADDR, now=0.7)
    assert len(_of(events, Response)) == 2
    assert not _of(events, RequestDone)
    assert session.handle_timeout(1.9) == []
    done = _done(session.handle_timeout(2.0))
    assert done.request_id == request_id
    assert [r.source for r in done.responses] == [METER_ADDR, OTHER_ADDR]
    assert session.datagrams_to_send() == []  # a multicast request is never retried
    assert session.pending == 0


def test_multicast_with_no_answer_is_done_empty() -> None:
    session = Session(timeout=1.0)
    session.get(MULTICAST, EOJ(0x0E, 0xF0, 0x01), [0xD6], now=0.0)
    session.datagrams_to_send()
    done = _done(session.handle_timeout(1.0))
    assert done.responses == ()
    assert done.values == {}


# --- bad input ------------------------------------------------------------------------------


def test_garbage_is_dropped_and_the_session_keeps_working() -> None:
    session = Session(first_tid=0x5253)
    session.get(METER_ADDR, METER, [0xE7], now=0.0)
    session.datagrams_to_send()
    garbage = [
        b"",
        b"\x10",
        b"GET / HTTP/1.1\r\n",
        QIITA_GET_RES_E7[:-1],
        QIITA_GET_RES_E7 + b"\x00",
        bytes.fromhex("1082525302880105FF01"),  # format 2: nothing to match
    ]
    for number, data in enumerate(garbage, start=1):
        (dropped,) = session.receive_data(data, OTHER_ADDR, now=0.1)
        assert isinstance(dropped, FrameDropped)
        assert dropped.source == OTHER_ADDR
        assert dropped.error is not None  # the DecodeError says what was wrong, and where
        assert dropped.error.offset <= len(data)
        assert session.dropped == number
    done = _done(session.receive_data(QIITA_GET_RES_E7, METER_ADDR, now=0.2))
    assert done[0xE7].value == 228
    assert session.received == len(garbage) + 1


def test_requests_without_a_node_are_dropped() -> None:
    session = Session()
    (dropped,) = session.receive_data(QIITA_GET_E7, OTHER_ADDR, now=0.0)
    assert isinstance(dropped, FrameDropped)
    assert "no node" in dropped.reason
    assert session.datagrams_to_send() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=5))
def test_any_datagrams_leave_a_working_session(datagrams: list[bytes]) -> None:
    session = Session(first_tid=0x5253)
    session.get(METER_ADDR, METER, [0xE7], now=0.0)
    session.datagrams_to_send()
    for data in datagrams:
        for event in session.receive_data(data, OTHER_ADDR, now=0.1):
            assert isinstance(event, FrameDropped | Notification | Response | RequestDone)
    assert session.received == len(datagrams)
    if session.pending:  # (unless a random datagram happened to be the answer)
        done = _done(session.receive_data(QIITA_GET_RES_E7, METER_ADDR, now=0.2))
        assert done[0xE7].value == 228
    assert session.next_deadline() is None


# --- answers matched to the address asked (Part II §3.1.2) ---------------------------------


def test_a_spoofed_answer_from_another_host_never_completes_the_request() -> None:
    session = Session(first_tid=0x5253)
    request_id = session.get(METER_ADDR, METER, [0xE7], now=0.0)
    session.datagrams_to_send()
    # Same TID, same SEOJ, another host: dropped and counted, the request still waits.
    spoofed = session.receive_data(QIITA_GET_RES_E7, OTHER_ADDR, now=0.1)
    (dropped,) = spoofed
    assert isinstance(dropped, FrameDropped)
    assert "asked" in dropped.reason
    assert (session.dropped, session.foreign_answers, session.pending) == (1, 1, 1)
    # The genuine answer, from the meter's host (another source port is fine), completes it.
    genuine = session.receive_data(QIITA_GET_RES_E7, ("FE80::21D:1291:4:E578", 49152), now=0.2)
    done = _done(genuine)
    assert done.request_id == request_id
    assert done[0xE7].value == 228
    assert session.pending == 0


def test_any_node_may_answer_a_multicast_request() -> None:
    session = Session(first_tid=0x5253)
    session.get(MULTICAST, METER, [0xE7], now=0.0)
    session.datagrams_to_send()
    for source in (METER_ADDR, OTHER_ADDR):
        assert _of(session.receive_data(QIITA_GET_RES_E7, source, now=0.1), Response)
    done = _done(session.handle_timeout(now=10.0))
    assert [r.source for r in done.responses] == [METER_ADDR, OTHER_ADDR]
    assert session.foreign_answers == 0


def test_a_request_to_a_group_address_accepts_any_responder() -> None:
    session = Session(first_tid=0x5253)
    session.get(("224.0.23.0", 3610), METER, [0xE7], now=0.0)
    session.datagrams_to_send()
    assert _of(session.receive_data(QIITA_GET_RES_E7, ("192.0.2.7", 3610), now=0.1), Response)
    assert session.foreign_answers == 0


# --- nodes learnt from their notifications --------------------------------------------------

#: Instance-list INF 0xD5 a meter sends at start (Part II §4.3.1), built with the frame codec.
_INSTANCE_LIST_INF: Final = el_frame.encode(
    Frame(
        1,
        EOJ(0x0E, 0xF0, 0x01),
        EOJ(0x0E, 0xF0, 0x01),
        ESV.INF,
        (Property(0xD5, bytes.fromhex("01028801")),),
    )
)


def test_an_instance_list_inf_teaches_the_node_without_a_request() -> None:
    session = Session(learn_nodes=True)
    events = session.receive_data(_INSTANCE_LIST_INF, METER_ADDR, now=0.0)
    assert _of(events, Notification)
    (learnt,) = _of(events, NodeDiscovered)
    assert learnt.node == DiscoveredNode(METER_ADDR, (METER,))
    assert list(session.known_nodes.values()) == [learnt.node]
    assert session.datagrams_to_send() == []
    # Known now: its next INF teaches nothing new.
    assert not _of(session.receive_data(_INSTANCE_LIST_INF, METER_ADDR, now=1.0), NodeDiscovered)


def test_any_inf_from_an_unknown_node_makes_the_session_ask_for_its_instance_list() -> None:
    session = Session(learn_nodes=True, first_tid=0x10)
    events = session.receive_data(QIITA_INF_EA_EB, METER_ADDR, now=0.0)
    assert _of(events, Notification)
    request, address = _only(session)
    assert (request.esv, request.deoj, address) == (ESV.GET, EOJ(0x0E, 0xF0, 0x01), METER_ADDR)
    assert [p.epc for p in request.properties] == [0xD6]
    # A second INF while the Get is pending asks nothing more.
    session.receive_data(QIITA_INF_EA_EB, METER_ADDR, now=0.1)
    assert session.datagrams_to_send() == []
    answer = _answer(request, ESV.GET_RES, [Property(0xD6, bytes.fromhex("01028801"))])
    events = session.receive_data(answer, METER_ADDR, now=0.2)
    (learnt,) = _of(events, NodeDiscovered)
    assert learnt.node.instances == (METER,)
    assert not _of(events, RequestDone)  # the session's own request: no outcome for the caller


def test_nodes_are_not_learnt_unless_asked() -> None:
    session = Session()
    session.receive_data(QIITA_INF_EA_EB, METER_ADDR, now=0.0)
    assert session.datagrams_to_send() == []
    assert session.known_nodes == {}


# --- property names in place of EPCs -------------------------------------------------------

AIRCON: Final = EOJ(0x01, 0x30, 0x01)


def test_set_and_get_take_property_names() -> None:
    session = Session()
    session.set(METER_ADDR, AIRCON, {"operationStatus": True, "targetTemperature": 25}, now=0.0)
    request, _ = _only(session)
    assert request.esv is ESV.SETC
    assert request.properties == (Property(0x80, b"\x30"), Property(0xB3, b"\x19"))
    session = Session()
    session.get(METER_ADDR, METER, ["instantaneousElectricPower", "cumulative_energy_unit"], 0.0)
    request, _ = _only(session)
    assert request.epcs == (0xE7, 0xE1)
    session = Session()
    session.set_get(METER_ADDR, AIRCON, {"target_temperature": 20}, ["operationStatus"], 0.0)
    request, _ = _only(session)
    assert [p.epc for p in request.properties] == [0xB3]
    assert [p.epc for p in request.get_properties] == [0x80]


def test_the_issue_example_epcs_with_typed_values() -> None:
    session = Session()
    session.set(METER_ADDR, AIRCON, {0x80: "on", 0xB3: 25}, now=0.0)
    request, _ = _only(session)
    assert request.properties == (Property(0x80, b"\x30"), Property(0xB3, b"\x19"))


@pytest.mark.parametrize("call", ["get", "inf_req", "set"])
def test_unknown_name_names_the_name_and_the_class(call: str) -> None:
    session = Session()
    request = getattr(session, call)
    argument: Any = {"warpDrive": 1} if call == "set" else ["warpDrive"]
    with pytest.raises(ValueError, match=r"class 0x0130 has no property named 'warpDrive'"):
        request(METER_ADDR, AIRCON, argument, 0.0)
    assert session.datagrams_to_send() == []
    assert session.pending == 0

"""Sans-IO ECHONET Lite node (``smartmeter_proto.echonet.node``): the device side.

The meter under test holds the EDTs a real meter answered (``b_route_home_meter.hex``, source
named in tests/vectors/echonet/README.md), so its answers can be compared with that meter's
bytes. Requests are built with the frame codec the way a controller sends them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pytest

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.datatypes import decode_property_map
from smartmeter_proto.echonet.events import (
    MULTICAST,
    FrameDropped,
    Notification,
    PropertyWritten,
    RequestDone,
)
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.node import NODE_PROFILE, DeviceObject, Node
from smartmeter_proto.echonet.properties import decode_property
from smartmeter_proto.echonet.session import CONTROLLER, Session

METER: Final = EOJ(0x02, 0x88, 0x01)
SECOND_METER: Final = EOJ(0x02, 0x88, 0x02)
SOLAR: Final = EOJ(0x02, 0x79, 0x01)
HEMS: Final = ("fe80::1", 3610)
VECTORS: Final = Path(__file__).resolve().parents[1] / "vectors" / "echonet"


def _vectors(stem: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for line in (VECTORS / f"{stem}.hex").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, hex_text = line.partition(" ")
            found[name] = bytes.fromhex(hex_text.replace(" ", ""))
    return found


HOME: Final = _vectors("b_route_home_meter")
QIITA: Final = _vectors("b_route_nerves_qiita")


def _captured_edts() -> dict[int, bytes]:
    """EPC -> EDT of every Get_Res of the home-meter capture."""
    edts: dict[int, bytes] = {}
    for name, data in HOME.items():
        if name.startswith("get_res_"):
            decoded = el_frame.decode(data)
            assert isinstance(decoded, Frame)
            (prop,) = decoded.properties
            if prop.epc not in (0x9D, 0x9E, 0x9F):  # the node computes its maps
                edts[prop.epc] = prop.edt
    return edts


#: The captured meter, completed with the EPCs its 0x9F lists but the capture did not read.
CAPTURED: Final = _captured_edts()
METER_EDTS: Final = {
    **CAPTURED,
    0xE1: b"\x01",
    0xE3: bytes.fromhex("00000010"),
    0xE4: bytes.fromhex("000B") + bytes.fromhex("00000001") * 48,
    0xE5: b"\x0b",
    0xEC: bytes.fromhex("07EA05140E00010000FE6800000016"),
    0xED: bytes.fromhex("07EA05140E0001"),
}


def _meter(eoj: EOJ = METER) -> DeviceObject:
    values: dict[int | str, Any] = {epc: edt for epc, edt in METER_EDTS.items()}
    return DeviceObject(eoj, values)


def _node(*objects: DeviceObject) -> Node:
    return Node(objects or (_meter(),), manufacturer_code=b"\x00\x00\x16")


def _request(
    esv: ESV,
    props: list[Property],
    gets: list[Property] | None = None,
    deoj: EOJ = METER,
    tid: int = 1,
) -> bytes:
    return el_frame.encode(Frame(tid, CONTROLLER, deoj, esv, tuple(props), tuple(gets or ())))


def _get(*epcs: int, deoj: EOJ = METER, tid: int = 1) -> bytes:
    return _request(ESV.GET, [Property(e) for e in epcs], deoj=deoj, tid=tid)


def _answers(node: Node) -> list[tuple[Frame, Any]]:
    out = []
    for data, address in node.datagrams_to_send():
        decoded = el_frame.decode(data)
        assert isinstance(decoded, Frame)
        out.append((decoded, address))
    return out


def _one_answer(node: Node) -> Frame:
    ((answer, address),) = _answers(node)
    assert address == HEMS
    return answer


# --- Get ------------------------------------------------------------------------------------


@pytest.mark.parametrize("epc", sorted(CAPTURED))
def test_get_answers_with_the_real_meters_bytes(epc: int) -> None:
    node = _node()
    assert node.receive_data(_get(epc), HEMS, now=0.0) == []
    ((data, address),) = node.datagrams_to_send()
    assert address == HEMS
    assert data == HOME[f"get_res_{epc:02x}"]


@pytest.mark.parametrize("name", ["get_sna_83", "get_sna_9c"])
def test_unsupported_epc_gets_the_real_meters_get_sna(name: str) -> None:
    node = _node()
    epc = int(name[-2:], 16)
    node.receive_data(_get(epc), HEMS, now=0.0)
    ((data, _),) = node.datagrams_to_send()
    assert data == HOME[name]


def test_mixed_get_is_an_sna_with_what_could_be_read() -> None:
    node = _node()
    node.receive_data(_get(0xE7, 0x83, 0xF0, 0xE8, tid=0x0102), HEMS, now=0.0)
    answer = _one_answer(node)
    assert answer.tid == 0x0102
    assert (answer.seoj, answer.deoj, answer.esv) == (METER, CONTROLLER, ESV.GET_SNA)
    assert answer.properties == (
        Property(0xE7, METER_EDTS[0xE7]),
        Property(0x83),
        Property(0xF0),
        Property(0xE8, METER_EDTS[0xE8]),
    )
    assert node.answered == 1


def test_anno_only_property_is_not_gettable() -> None:
    node = _node()
    node.receive_data(_get(0xD5, deoj=NODE_PROFILE), HEMS, now=0.0)
    answer = _one_answer(node)
    assert answer.esv is ESV.GET_SNA
    assert answer.properties == (Property(0xD5),)


# --- property maps --------------------------------------------------------------------------


def _map(node: Node, eoj: EOJ, epc: int) -> tuple[int, ...]:
    node.receive_data(_get(epc, deoj=eoj), HEMS, now=0.0)
    answer = _one_answer(node)
    assert answer.esv is ESV.GET_RES
    (prop,) = answer.properties
    return decode_property_map(prop.edt)


def test_maps_match_the_real_meter() -> None:
    node = _node()
    for epc in (0x9D, 0x9F):
        node.receive_data(_get(epc), HEMS, now=0.0)
        ((data, _),) = node.datagrams_to_send()
        assert data == HOME[f"get_res_{epc:02x}"]
    # The real meter's Set map is 81 E5 ED: it does not let 0x80, 0x97 and 0x98 be set, which
    # the super class allows as optional. A DeviceObject's maps follow the class file only.
    assert _map(node, METER, 0x9E) == (0x80, 0x81, 0x97, 0x98, 0xE5, 0xED)


def test_maps_follow_the_access_rules() -> None:
    node = _node()
    obj = node.objects[METER]
    anno, settable, gettable = (set(_map(node, METER, epc)) for epc in (0x9D, 0x9E, 0x9F))
    assert gettable == set(METER_EDTS) | {0x9D, 0x9E, 0x9F}
    for epc in obj.supported:
        spec = obj.spec.properties[epc]
        assert (epc in gettable) == spec.gettable
        assert (epc in settable) == spec.settable
        assert (epc in anno) == spec.announced
    # Every EPC of the Get map answers a Get; nothing outside it does.
    node.receive_data(_get(*sorted(gettable)), HEMS, now=0.0)
    assert _one_answer(node).esv is ESV.GET_RES


def test_node_profile_maps() -> None:
    node = _node()
    gettable = _map(node, NODE_PROFILE, 0x9F)
    assert gettable == (0x80, 0x82, 0x83, 0x8A, 0x9D, 0x9E, 0x9F, 0xD3, 0xD4, 0xD6, 0xD7)
    assert _map(node, NODE_PROFILE, 0x9E) == ()
    assert 0x80 in _map(node, NODE_PROFILE, 0x9D)


def test_node_profile_announcement_map_lists_the_instance_list() -> None:
    assert _map(_node(), NODE_PROFILE, 0x9D) == (0x80, 0xD5)


# --- node profile ---------------------------------------------------------------------------


def test_node_profile_instance_and_class_lists() -> None:
    node = _node(
        _meter(METER), _meter(SECOND_METER), DeviceObject(SOLAR, {"operation_status": "on"})
    )
    node.receive_data(
        _get(0xD3, 0xD4, 0xD6, 0xD7, 0x82, 0x83, 0x8A, 0x80, deoj=NODE_PROFILE), HEMS, now=0.0
    )
    answer = _one_answer(node)
    assert answer.seoj == NODE_PROFILE
    assert answer.esv is ESV.GET_RES
    values = {p.epc: decode_property(0x0EF0, p.epc, p.edt).value for p in answer.properties}
    assert values[0xD3] == 3  # instances, node profile excluded
    assert values[0xD4] == 3  # classes 0x0279 and 0x0288, plus the node profile class
    assert values[0xD6] == (METER, SECOND_METER, SOLAR)
    assert values[0xD7] == (0x0279, 0x0288)
    assert values[0x82] == {"major": 1, "minor": 14, "message_formats": b"\x01\x00"}
    assert values[0x83] == b"\xfe\x00\x00\x16" + bytes(13)
    assert values[0x8A] == b"\x00\x00\x16"
    assert values[0x80] == "booting"


def test_start_announces_the_instance_list_to_multicast() -> None:
    node = _node()
    node.start(now=0.0)
    ((data, address),) = node.datagrams_to_send()
    assert address is MULTICAST
    # The same notification a real meter sent after joining (Qiita capture), but for the TID.
    real = QIITA["instance_list_inf"]
    assert data[4:] == real[4:]
    assert data[:2] == real[:2]


def test_node_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Node([_meter(), _meter()])
    with pytest.raises(ValueError, match="profile"):
        Node([DeviceObject(NODE_PROFILE)])
    with pytest.raises(ValueError, match="manufacturer_code"):
        Node([_meter()], manufacturer_code=b"\x00\x16")
    with pytest.raises(ValueError, match="unique_id"):
        Node([_meter()], unique_id=b"\x00")
    with pytest.raises(ValueError, match="no specification"):
        DeviceObject(EOJ(0x01, 0x31, 0x01))


# --- Set ------------------------------------------------------------------------------------


def test_setc_accepted_changes_the_value() -> None:
    node = _node()
    events = node.receive_data(_request(ESV.SETC, [Property(0xE5, b"\x02")]), HEMS, now=0.0)
    assert events == [PropertyWritten(HEMS, int(METER), 0xE5, b"\x02")]
    answer = _one_answer(node)
    assert answer.esv is ESV.SET_RES
    assert answer.properties == (Property(0xE5),)
    node.receive_data(_get(0xE5), HEMS, now=0.0)
    assert _one_answer(node).properties == (Property(0xE5, b"\x02"),)


@pytest.mark.parametrize(
    ("epc", "edt", "why"),
    [
        (0xE7, b"\x00\x00\x00\x01", "not settable per the class file"),
        (0x83, b"\x00" * 9, "not implemented"),
        (0xE5, b"\x02\x00", "EDT one byte too long"),
        (0xE5, b"\x64", "100 days back, max 99"),
        (0xE5, b"", "PDC 0"),
        (0xF0, b"\x01", "no such property"),
    ],
)
def test_setc_refused_echoes_the_edt(epc: int, edt: bytes, why: str) -> None:
    node = _node()
    before = node.objects[METER].read(epc, 0.0)
    accepted = Property(0xED, bytes.fromhex("07EA05140E0002"))  # settable, not announced
    events = node.receive_data(_request(ESV.SETC, [Property(epc, edt), accepted]), HEMS, now=0.0)
    answer = _one_answer(node)
    assert answer.esv is ESV.SETC_SNA, why
    assert answer.properties == (Property(epc, edt), Property(0xED))
    assert events == [PropertyWritten(HEMS, int(METER), 0xED, accepted.edt)]
    assert node.objects[METER].read(epc, 0.0) == before


def test_seti_is_silent_on_success_and_answers_a_refusal() -> None:
    node = _node()
    events = node.receive_data(_request(ESV.SETI, [Property(0xE5, b"\x04")]), HEMS, now=0.0)
    assert events == [PropertyWritten(HEMS, int(METER), 0xE5, b"\x04")]
    assert node.datagrams_to_send() == []
    assert node.objects[METER].read(0xE5, 0.0) == b"\x04"
    node.receive_data(_request(ESV.SETI, [Property(0xE7, b"\x00\x00\x00\x01")]), HEMS, now=0.0)
    answer = _one_answer(node)
    assert answer.esv is ESV.SETI_SNA
    assert answer.properties == (Property(0xE7, b"\x00\x00\x00\x01"),)


def test_set_of_an_announced_property_queues_an_inf() -> None:
    node = _node()
    node.receive_data(_request(ESV.SETC, [Property(0x80, b"\x31")]), HEMS, now=0.0)
    sent = {f.esv: (f, a) for f, a in _answers(node)}
    assert set(sent) == {ESV.SET_RES, ESV.INF}
    assert sent[ESV.SET_RES][1] == HEMS
    inf, address = sent[ESV.INF]
    assert address is MULTICAST
    assert (inf.seoj, inf.deoj) == (METER, NODE_PROFILE)
    assert inf.properties == (Property(0x80, b"\x31"),)


def test_setget() -> None:
    node = _node()
    node.receive_data(
        _request(ESV.SETGET, [Property(0xE5, b"\x00")], [Property(0xE5), Property(0xE7)]),
        HEMS,
        now=0.0,
    )
    answer = _one_answer(node)
    assert answer.esv is ESV.SETGET_RES
    assert answer.properties == (Property(0xE5),)
    assert answer.get_properties == (Property(0xE5, b"\x00"), Property(0xE7, METER_EDTS[0xE7]))
    node.receive_data(
        _request(ESV.SETGET, [Property(0xE7, b"\x00\x00\x00\x00")], [Property(0xE0)]),
        HEMS,
        now=0.0,
    )
    refused = _one_answer(node)
    assert refused.esv is ESV.SETGET_SNA
    assert refused.properties == (Property(0xE7, b"\x00\x00\x00\x00"),)
    assert refused.get_properties == (Property(0xE0, METER_EDTS[0xE0]),)


def test_inf_req_answers_with_inf_to_the_requester() -> None:
    node = _node()
    node.receive_data(_request(ESV.INF_REQ, [Property(0x80)], tid=0x77), HEMS, now=0.0)
    answer = _one_answer(node)
    assert (answer.tid, answer.esv) == (0x77, ESV.INF)
    assert answer.properties == (Property(0x80, b"\x30"),)
    node.receive_data(_request(ESV.INF_REQ, [Property(0x83)]), HEMS, now=0.0)
    assert _one_answer(node).esv is ESV.INF_SNA


# --- addressing -----------------------------------------------------------------------------


def test_instance_zero_addresses_every_instance() -> None:
    node = _node(_meter(METER), _meter(SECOND_METER))
    node.update(SECOND_METER, 0xE7, bytes.fromhex("00000010"), now=0.0)
    node.receive_data(_get(0xE7, deoj=EOJ(0x02, 0x88, 0x00)), HEMS, now=0.0)
    answers = _answers(node)
    assert {(f.seoj, f.properties[0].edt) for f, _ in answers} == {
        (METER, METER_EDTS[0xE7]),
        (SECOND_METER, bytes.fromhex("00000010")),
    }
    assert all(f.esv is ESV.GET_RES for f, _ in answers)


def test_unknown_object_gets_no_answer() -> None:
    node = _node()
    for deoj in (SECOND_METER, SOLAR, EOJ(0x02, 0x79, 0x00)):
        (dropped,) = node.receive_data(_get(0x80, deoj=deoj), HEMS, now=0.0)
        assert isinstance(dropped, FrameDropped)
    assert node.datagrams_to_send() == []
    assert node.dropped == 3
    assert node.answered == 0


def test_answers_and_garbage_are_not_requests() -> None:
    node = _node()
    for data in (HOME["get_res_e7"], QIITA["instance_list_inf"], b"\x10\x81", b"\x10\x82\x00\x01"):
        (dropped,) = node.receive_data(data, HEMS, now=0.0)
        assert isinstance(dropped, FrameDropped)
    assert node.datagrams_to_send() == []
    assert node.dropped == 4


# --- local updates --------------------------------------------------------------------------


def test_update_announces_only_changes_of_announced_properties() -> None:
    node = _node()
    node.update(METER, "operation_status", "off", now=0.0)
    ((data, address),) = node.datagrams_to_send()
    assert address is MULTICAST
    inf = el_frame.decode(data)
    assert isinstance(inf, Frame)
    assert inf.properties == (Property(0x80, b"\x31"),)
    node.update(METER, 0x80, "off", now=1.0)  # no change
    node.update(METER, 0xE7, 700, now=1.0)  # not announced
    assert node.datagrams_to_send() == []
    node.update(METER, 0x88, "fault", now=2.0)
    ((data, _),) = node.datagrams_to_send()
    assert data.endswith(bytes.fromhex("73 01 88 01 41".replace(" ", "")))


def test_announcement_tids_count_up() -> None:
    node = _node()
    node.start(now=0.0)
    node.update(METER, 0x80, "off", now=0.0)
    node.update(METER, 0x80, "on", now=0.0)
    assert [f.tid for f, _ in _answers(node)] == [1, 2, 3]


# --- with the client, in memory -------------------------------------------------------------


def _pump(client: Session, node: Node, now: float) -> list[Any]:
    """Deliver every queued datagram both ways until both sides are quiet."""
    events: list[Any] = []
    for _ in range(10):
        to_node = client.datagrams_to_send()
        to_client = node.datagrams_to_send()
        if not to_node and not to_client:
            return events
        for data, _address in to_node:
            events.extend(node.receive_data(data, HEMS, now))
        for data, _address in to_client:
            events.extend(client.receive_data(data, "meter", now))
    raise AssertionError("the exchange did not settle")


def test_session_and_node_talk() -> None:
    client = Session(timeout=5.0, first_tid=0x1000)
    node = _node()
    node.start(now=0.0)
    events = _pump(client, node, now=0.0)
    (hello,) = [e for e in events if isinstance(e, Notification)]
    assert hello.values[0].value == (METER,)

    client.get("meter", METER, [0xE7, 0xE8, 0x9F, 0x83], now=1.0)
    done = next(e for e in _pump(client, node, now=1.0) if isinstance(e, RequestDone))
    assert done.esv is ESV.GET_SNA
    assert done[0xE7].value == 632
    assert done[0xE8].value == {"r_phase": 3.0, "t_phase": 5.0}
    assert len(done[0x9F].value) == 25
    assert done.refused == (0x83,)

    client.set("meter", METER, {0x80: "off", 0xE5: 1}, now=2.0)
    events = _pump(client, node, now=2.0)
    done = next(e for e in events if isinstance(e, RequestDone))
    assert done.esv is ESV.SET_RES
    assert done.ok
    written = [e for e in events if isinstance(e, PropertyWritten)]
    assert [(w.epc, w.edt) for w in written] == [(0x80, b"\x31"), (0xE5, b"\x01")]
    (announcement,) = [e for e in events if isinstance(e, Notification)]
    assert announcement.values[0].value == "off"

    client.set_get("meter", METER, {0xE5: 2}, [0xE5], now=3.0)
    done = next(e for e in _pump(client, node, now=3.0) if isinstance(e, RequestDone))
    assert done.esv is ESV.SETGET_RES
    assert done[0xE5].value == 2

    client.set("meter", METER, {0xE5: 3}, now=4.0, confirm=False)
    assert _pump(client, node, now=4.0) == [PropertyWritten(HEMS, int(METER), 0xE5, b"\x03")]
    done = next(e for e in client.handle_timeout(9.0) if isinstance(e, RequestDone))
    assert done.esv is ESV.SET_RES
    assert client.pending == 0
    assert client.dropped == node.dropped == 0


def test_session_with_a_node_answers_other_controllers() -> None:
    session = Session(node=_node())
    events = session.receive_data(QIITA["get_e7"], "other-controller", now=0.0)
    assert events == []
    ((data, address),) = session.datagrams_to_send()
    assert address == "other-controller"
    answer = el_frame.decode(data)
    assert isinstance(answer, Frame)
    assert answer.tid == 0x5253
    assert answer.properties == (Property(0xE7, METER_EDTS[0xE7]),)
    assert session.next_deadline() is None
    assert session.handle_timeout(1.0) == []


def test_announcement_reaches_a_client_whose_tids_collide() -> None:
    client = Session()  # TIDs 1, 2, ... like the node's own announcements
    node = _node()
    node.start(now=0.0)
    _pump(client, node, now=0.0)
    client.get("meter", METER, [0xE7], now=1.0)
    _pump(client, node, now=1.0)
    client.set("meter", METER, {0x80: "off"}, now=2.0)
    events = _pump(client, node, now=2.0)
    assert [e for e in events if isinstance(e, Notification)]
    assert client.dropped == 0

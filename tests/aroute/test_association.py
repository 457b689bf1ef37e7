"""AssociationClient <-> AssociationServer through their APDU queues (sans-IO)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute.acse import AARE, AcseServiceUserDiagnostic, decode_acse
from smartmeter_proto.aroute.apdu import (
    DataAccessResult,
    DataNotification,
    ExceptionResponse,
    ExceptionServiceError,
    SelectiveAccess,
    decode_apdu,
)
from smartmeter_proto.aroute.association import (
    Associated,
    AssociationClient,
    AssociationRefused,
    AssociationServer,
    Authentication,
    ClientEvent,
    GetListResult,
    GetResult,
    Pushed,
    Released,
    RequestTimedOut,
    SendCounterExhausted,
    SetResult,
)
from smartmeter_proto.aroute.axdr import CosemDateTime, Data, DataType
from smartmeter_proto.aroute.context import RequestContext
from smartmeter_proto.aroute.cosem import (
    ActionItem,
    CaptureObject,
    ClassId,
    Clock,
    CosemAccessError,
    CosemObject,
    EntryDescriptor,
    Limiter,
    ProfileGeneric,
    RangeDescriptor,
    Register,
    Unit,
    ValueDefinition,
    datetime_data,
)
from smartmeter_proto.aroute.cosem import DataAccessResult as CosemResult
from smartmeter_proto.aroute.obis import Obis
from smartmeter_proto.aroute.profile import CommandResult, LimiterReservation, ReservationState
from smartmeter_proto.aroute.security import InvocationCounters
from smartmeter_proto.security_state import CounterExhausted, MemoryStateStore, SendCounter

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")

CLIENT_TITLE = b"CLIENT01"
SERVER_TITLE = b"MTR00001"
T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)

ENERGY = Obis(1, 0, 1, 8, 0, 255)
CLOCK = Obis(0, 0, 1, 0, 0, 255)
LOAD_PROFILE = Obis(1, 0, 99, 1, 0, 255)
LIMITER = Obis(0, 0, 17, 0, 0, 255)
RESERVATION = Obis(0, 128, 96, 50, 0, 255)  # project-defined (manufacturer-specific B)


class ReservationObject(CosemObject):
    """A LimiterReservation as a Data-class object whose set needs a RequestContext."""

    class_id = ClassId.DATA
    attribute_names = ("logical_name", "value")

    def __init__(self, logical_name: Obis, reservation: LimiterReservation) -> None:
        super().__init__(logical_name)
        self.reservation = reservation

    def _get(self, index: int) -> Data:
        return self.reservation.to_data()

    def set_in(self, context: RequestContext, index: int, value: Data) -> None:
        result = self.reservation.write(
            value, authenticated=context.authenticated, fresh=context.fresh, now=context.now
        )
        if result is not CommandResult.ACCEPTED:
            code = (
                CosemResult.READ_WRITE_DENIED
                if result in (CommandResult.REJECTED_UNAUTHENTICATED, CommandResult.REJECTED_STALE)
                else CosemResult.OTHER_REASON
            )
            raise CosemAccessError(code, result.name)

    def invoke_in(self, context: RequestContext, index: int, parameter: Data | None) -> Data | None:
        return self.invoke(index, parameter)


def _profile() -> ProfileGeneric:
    columns = [CaptureObject(ClassId.CLOCK, CLOCK, 2), CaptureObject(ClassId.REGISTER, ENERGY, 2)]
    pg = ProfileGeneric(LOAD_PROFILE, columns, capture_period=1800, profile_entries=48)
    for i in range(48):
        at = CosemDateTime.from_datetime(T0 + timedelta(minutes=30 * i))
        pg.capture_row([datetime_data(at), Data(DataType.DOUBLE_LONG_UNSIGNED, 1000 + 7 * i)])
    return pg


def _objects() -> dict[Obis, CosemObject]:
    limiter = Limiter(
        LIMITER,
        ValueDefinition(ClassId.REGISTER, Obis(1, 0, 1, 7, 0, 255), 2),
        threshold_normal=Data(DataType.LONG_UNSIGNED, 30),
        threshold_emergency=Data(DataType.LONG_UNSIGNED, 10),
        min_over_threshold_duration=60,
        min_under_threshold_duration=60,
        action_over=ActionItem(Obis(0, 0, 10, 0, 106, 255), 1),
        action_under=ActionItem(Obis(0, 0, 10, 0, 106, 255), 2),
    )
    objs: list[CosemObject] = [
        Register(ENERGY, Data(DataType.DOUBLE_LONG_UNSIGNED, 123456), 0, Unit.WH),
        Clock(CLOCK, CosemDateTime.from_datetime(T0), time_zone=-540),
        _profile(),
        limiter,
        ReservationObject(RESERVATION, LimiterReservation(30)),
    ]
    return {o.logical_name: o for o in objs}


def _server(**kw: object) -> AssociationServer:
    args: dict[str, object] = {
        "system_title": SERVER_TITLE,
        "ek": EK,
        "ak": AK,
        "challenge": lambda: b"S" * 16,
        "counter": SendCounter(MemoryStateStore(), "server"),
    }
    args.update(kw)
    return AssociationServer(_objects(), **args)  # type: ignore[arg-type]


def _client(ciphered: bool = True, **kw: object) -> AssociationClient:
    args: dict[str, object] = {
        "system_title": CLIENT_TITLE,
        "challenge": lambda: b"C" * 16,
        "counter": SendCounter(MemoryStateStore(), "client"),
    }
    if ciphered:
        args.update(ek=EK, ak=AK)
    args.update(kw)
    return AssociationClient(**args)  # type: ignore[arg-type]


def pump(
    client: AssociationClient, server: AssociationServer, now: datetime = T0
) -> list[ClientEvent]:
    events: list[ClientEvent] = []
    for _ in range(500):
        out = client.apdus_to_send()
        if not out:
            break
        for apdu in out:
            server.receive(apdu, now)
        for apdu in server.apdus_to_send():
            client.receive(apdu, 0.0)
        events += client.events()
    return events + client.events()


def _associated(ciphered: bool = True, **kw: object) -> tuple[AssociationClient, AssociationServer]:
    client_kw = {
        k: v
        for k, v in kw.items()
        if k in ("authentication", "password", "max_pdu_size", "general_ciphering")
    }
    server_kw = {k: v for k, v in kw.items() if k in ("authentication", "password")}
    if "server_password" in kw:
        server_kw["password"] = kw["server_password"]
    client, server = _client(ciphered, **client_kw), _server(**server_kw)
    client.associate(0.0)
    events = pump(client, server)
    assert isinstance(events[-1], Associated), events
    return client, server


def _get(
    client: AssociationClient,
    server: AssociationServer,
    obis: Obis,
    class_id: int,
    attribute: int,
    **kw: object,
) -> object:
    invoke = client.get(obis, class_id, attribute, **kw)  # type: ignore[arg-type]
    events = pump(client, server)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, GetResult)
    assert event.invoke_id == invoke
    return event.result


def test_plain_association_and_register_read() -> None:
    client, server = _associated(ciphered=False)
    assert client.negotiated is not None
    assert _get(client, server, ENERGY, ClassId.REGISTER, 2) == Data(
        DataType.DOUBLE_LONG_UNSIGNED, 123456
    )
    assert _get(client, server, ENERGY, ClassId.REGISTER, 3) == Data(
        DataType.STRUCTURE, (Data(DataType.INTEGER, 0), Data(DataType.ENUM, Unit.WH))
    )
    assert (
        _get(client, server, Obis(1, 0, 2, 8, 0, 255), ClassId.REGISTER, 2)
        == DataAccessResult.OBJECT_UNDEFINED
    )
    assert (
        _get(client, server, ENERGY, ClassId.CLOCK, 2) == DataAccessResult.OBJECT_CLASS_INCONSISTENT
    )


def test_ciphered_association_uses_glo_apdus() -> None:
    client, server = _client(), _server()
    client.associate(0.0)
    aarq = client.apdus_to_send()[0]
    server.receive(aarq, T0)
    aare = decode_acse(server.apdus_to_send()[0])
    assert isinstance(aare, AARE)
    assert aare.responding_ap_title == SERVER_TITLE
    assert isinstance(aare.user_information, bytes)
    assert aare.user_information[0] == 0x28  # glo-initiate-response
    client.receive(aare.encode(), 0.0)
    assert isinstance(client.events()[0], Associated)
    client.get(ENERGY, ClassId.REGISTER, 2)
    request = client.apdus_to_send()[0]
    assert request[0] == 0xC8  # glo-get-request
    server.receive(request, T0)
    response = server.apdus_to_send()[0]
    assert response[0] == 0xCC  # glo-get-response
    client.receive(response, 0.0)
    (event,) = client.events()
    assert isinstance(event, GetResult)
    assert event.result == Data(DataType.DOUBLE_LONG_UNSIGNED, 123456)


def test_general_glo_ciphering_requests() -> None:
    client, server = _associated(general_ciphering=True)
    client.get(ENERGY, ClassId.REGISTER, 2)
    request = client.apdus_to_send()[0]
    assert request[0] == 0xDB
    server.receive(request, T0)
    response = server.apdus_to_send()[0]
    assert response[0] == 0xDB
    client.receive(response, 0.0)
    assert client.events() == [GetResult(1, Data(DataType.DOUBLE_LONG_UNSIGNED, 123456))]


def test_lls_password() -> None:
    _associated(False, authentication=Authentication.LLS, password=b"12345678")
    client = _client(False, authentication=Authentication.LLS, password=b"wrong")
    server = _server(authentication=Authentication.LLS, password=b"12345678")
    client.associate(0.0)
    (event,) = pump(client, server)
    assert isinstance(event, AssociationRefused)
    assert event.diagnostic == AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE
    assert "password" not in event.reason
    assert "wrong" not in event.reason
    # no mechanism at all where LLS is required
    client = _client(False)
    client.associate(0.0)
    (event,) = pump(client, server)
    assert isinstance(event, AssociationRefused)
    assert event.diagnostic == AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_REQUIRED


def test_hls_gmac_four_pass() -> None:
    client, server = _associated(authentication=Authentication.HLS_GMAC)
    assert _get(client, server, ENERGY, ClassId.REGISTER, 2) == Data(
        DataType.DOUBLE_LONG_UNSIGNED, 123456
    )
    # a client with the wrong key fails pass 3 at the server
    bad = AssociationClient(
        system_title=CLIENT_TITLE,
        ek=EK,
        ak=bytes(16),
        authentication=Authentication.HLS_GMAC,
        counter=SendCounter(MemoryStateStore(), "bad"),
    )
    server = _server(authentication=Authentication.HLS_GMAC)
    bad.associate(0.0)
    events = pump(bad, server)
    assert isinstance(events[-1], AssociationRefused)
    # and a GET before pass 3 is refused
    bad.apdus_to_send()
    assert server.stats.auth_failed >= 1


def test_profile_buffer_block_transfer() -> None:
    client, server = _associated(max_pdu_size=128)
    sent: list[bytes] = []
    client.get(LOAD_PROFILE, ClassId.PROFILE_GENERIC, 2)
    events: list[ClientEvent] = []
    for _ in range(100):
        out = client.apdus_to_send()
        if not out:
            break
        sent += out
        for apdu in out:
            server.receive(apdu, T0)
        for apdu in server.apdus_to_send():
            assert len(apdu) <= 128
            client.receive(apdu, 0.0)
        events += client.events()
    (event,) = events
    assert isinstance(event, GetResult)
    assert isinstance(event.result, Data)
    rows = event.result.value
    assert isinstance(rows, tuple)
    assert len(rows) == 48
    assert rows[47].value[1] == Data(DataType.DOUBLE_LONG_UNSIGNED, 1000 + 7 * 47)
    assert len(sent) > 5  # one GET-Request-Normal, then GET-Request-Next per block


def test_selective_access_by_range_and_entry() -> None:
    client, server = _associated(max_pdu_size=256)
    clock_col = CaptureObject(ClassId.CLOCK, CLOCK, 2)
    lo = datetime_data(CosemDateTime.from_datetime(T0 + timedelta(hours=2)))
    hi = datetime_data(CosemDateTime.from_datetime(T0 + timedelta(hours=3)))
    by_range = RangeDescriptor(clock_col, lo, hi)
    result = _get(
        client,
        server,
        LOAD_PROFILE,
        ClassId.PROFILE_GENERIC,
        2,
        access=SelectiveAccess(1, by_range.to_data()),
    )
    assert isinstance(result, Data)
    assert isinstance(result.value, tuple)
    assert [r.value[1].value for r in result.value] == [1028, 1035, 1042]
    by_entry = EntryDescriptor(from_entry=10, to_entry=12, from_selected_value=2)
    result = _get(
        client,
        server,
        LOAD_PROFILE,
        ClassId.PROFILE_GENERIC,
        2,
        access=SelectiveAccess(2, by_entry.to_data()),
    )
    assert result == Data(
        DataType.ARRAY,
        tuple(
            Data(DataType.STRUCTURE, (Data(DataType.DOUBLE_LONG_UNSIGNED, 1000 + 7 * i),))
            for i in (9, 10, 11)
        ),
    )


def test_get_with_list() -> None:
    client, server = _associated()
    invoke = client.get_list(
        [(ENERGY, ClassId.REGISTER, 2), (LIMITER, ClassId.LIMITER, 4), (CLOCK, ClassId.CLOCK, 3)]
    )
    assert pump(client, server) == [
        GetListResult(
            invoke,
            (
                Data(DataType.DOUBLE_LONG_UNSIGNED, 123456),
                Data(DataType.LONG_UNSIGNED, 30),
                Data(DataType.LONG, -540),
            ),
        )
    ]


def test_set_wrong_type_is_type_unmatched() -> None:
    client, server = _associated()
    invoke = client.set(LIMITER, ClassId.LIMITER, 4, Data(DataType.VISIBLE_STRING, "40"))
    assert pump(client, server) == [SetResult(invoke, DataAccessResult.TYPE_UNMATCHED)]
    invoke = client.set(LIMITER, ClassId.LIMITER, 4, Data(DataType.LONG_UNSIGNED, 40))
    assert pump(client, server) == [SetResult(invoke, DataAccessResult.SUCCESS)]
    assert _get(client, server, LIMITER, ClassId.LIMITER, 4) == Data(DataType.LONG_UNSIGNED, 40)


def _reservation_value() -> Data:
    at = datetime_data(CosemDateTime.from_datetime(T0 + timedelta(days=1)))
    return Data(
        DataType.STRUCTURE,
        (
            Data(DataType.ENUM, ReservationState.PENDING),
            Data(DataType.LONG_UNSIGNED, 40),
            at,
            Data(DataType.NULL, None),
            Data(DataType.BOOLEAN, False),
        ),
    )


def _reservation(server: AssociationServer) -> LimiterReservation:
    obj = server.objects[RESERVATION]
    assert isinstance(obj, ReservationObject)
    return obj.reservation


def test_reservation_needs_a_ciphered_fresh_request() -> None:
    client, server = _associated()
    invoke = client.set(RESERVATION, ClassId.DATA, 2, _reservation_value(), ciphered=False)
    assert pump(client, server) == [SetResult(invoke, DataAccessResult.READ_WRITE_DENIED)]
    assert _reservation(server).state is ReservationState.NONE
    invoke = client.set(RESERVATION, ClassId.DATA, 2, _reservation_value())
    assert pump(client, server) == [SetResult(invoke, DataAccessResult.SUCCESS)]
    assert _reservation(server).state is ReservationState.PENDING
    assert _reservation(server).new_limit_a == 40


def test_replayed_ciphered_request_is_rejected() -> None:
    client, server = _associated()
    client.set(RESERVATION, ClassId.DATA, 2, _reservation_value())
    request = client.apdus_to_send()[0]
    server.receive(request, T0)
    server.apdus_to_send()
    _reservation(server).cancel(authenticated=True, fresh=True, now=T0)
    server.receive(request, T0)  # the same bytes again
    (reply,) = server.apdus_to_send()
    answer = decode_apdu(reply)
    assert isinstance(answer, ExceptionResponse)
    assert answer.service_error == ExceptionServiceError.INVOCATION_COUNTER_ERROR
    assert server.stats.replayed == 1
    assert _reservation(server).state is ReservationState.NONE


def test_flipped_bit_in_ciphered_request_is_rejected() -> None:
    client, server = _associated()
    client.set(RESERVATION, ClassId.DATA, 2, _reservation_value())
    request = bytearray(client.apdus_to_send()[0])
    request[-20] ^= 0x01
    server.receive(bytes(request), T0)
    (reply,) = server.apdus_to_send()
    answer = decode_apdu(reply)
    assert isinstance(answer, ExceptionResponse)
    assert answer.service_error == ExceptionServiceError.DECIPHERING_ERROR
    assert server.stats.auth_failed == 1
    assert _reservation(server).state is ReservationState.NONE
    client.receive(reply, 0.0)
    assert client.events()[0].__class__.__name__ == "ExceptionReceived"


def test_release_then_requests_are_refused() -> None:
    client, server = _associated(ciphered=False)
    client.release()
    assert pump(client, server) == [Released()]
    # a GET sent by hand after release: refused by the server
    from smartmeter_proto.aroute.apdu import CosemAttributeDescriptor, GetRequestNormal

    server.receive(GetRequestNormal(CosemAttributeDescriptor(3, bytes(ENERGY), 2)).encode(), T0)
    answer = decode_apdu(server.apdus_to_send()[0])
    assert isinstance(answer, ExceptionResponse)
    assert server.stats.refused_not_associated == 1


def test_request_timeout_and_retries() -> None:
    client = _client(False, timeout=2.0, retries=2)
    client.associate(10.0)
    assert len(client.apdus_to_send()) == 1
    assert client.next_deadline() == 12.0
    client.handle_timeout(11.0)
    assert client.apdus_to_send() == []
    for t in (12.0, 14.0):
        client.handle_timeout(t)
        assert len(client.apdus_to_send()) == 1
    client.handle_timeout(16.0)
    assert client.events() == [RequestTimedOut(None)]
    assert client.next_deadline() is None


def test_ciphered_push_and_replay() -> None:
    client, server = _associated()
    note = DataNotification(
        Data(DataType.DOUBLE_LONG_UNSIGNED, 99), CosemDateTime.from_datetime(T0).encode()
    )
    push = server.protect_apdu(note.encode())
    client.receive(push, 0.0)
    (event,) = client.events()
    assert isinstance(event, Pushed)
    assert event.body == Data(DataType.DOUBLE_LONG_UNSIGNED, 99)
    assert event.system_title == SERVER_TITLE
    assert event.date_time == T0
    client.receive(push, 0.0)  # replay
    assert client.events() == []
    client.receive(note.encode(), 0.0)  # unciphered push to a ciphering client
    assert client.events() == []


def test_client_counters_survive_reassociation() -> None:
    counters = InvocationCounters()
    server = _server(client_counters=counters)
    client = _client()
    client.associate(0.0)
    pump(client, server)
    client.get(ENERGY, ClassId.REGISTER, 2)
    old = client.apdus_to_send()[0]
    server.receive(old, T0)
    client.receive(server.apdus_to_send()[0], 0.0)
    client.release()
    pump(client, server)
    client.associate(0.0)
    pump(client, server)
    server.receive(old, T0)
    assert isinstance(decode_apdu(server.apdus_to_send()[0]), ExceptionResponse)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_into_server_and_client_never_raise(data: bytes) -> None:
    client, server = _associated()
    server.receive(data, T0)
    server.apdus_to_send()
    client.receive(data, 0.0)
    client.events()
    fresh = _server()
    fresh.receive(data, T0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 7), st.binary(min_size=1, max_size=3))
def test_mutated_requests_never_raise(pos: int, bit: int, tail: bytes) -> None:
    client, server = _associated(ciphered=False)
    client.get(
        LOAD_PROFILE,
        ClassId.PROFILE_GENERIC,
        2,
        access=SelectiveAccess(2, EntryDescriptor(1, 2).to_data()),
    )
    request = bytearray(client.apdus_to_send()[0])
    request[pos % len(request)] ^= 1 << bit
    server.receive(bytes(request) + tail, T0)
    server.receive(bytes(request), T0)
    for reply in server.apdus_to_send():
        client.receive(reply, 0.0)


def test_dlms_cosem_client_drives_our_server() -> None:
    """dlms-cosem (pwitab/dlms-cosem, PyPI) encodes the AARQ and GET, and decodes our AARE
    and GET-Response: an independent implementation agrees with our wire format."""
    from dlms_cosem import cosem as dcosem  # type: ignore[import-untyped]
    from dlms_cosem import enumerations
    from dlms_cosem.protocol import acse, xdlms  # type: ignore[import-untyped]

    server = _server()
    conformance = xdlms.Conformance(
        get=True, set=True, action=True, selective_access=True, block_transfer_with_get_or_read=True
    )
    aarq = acse.ApplicationAssociationRequest(
        user_information=acse.UserInformation(
            content=xdlms.InitiateRequest(
                proposed_conformance=conformance, client_max_receive_pdu_size=500
            )
        )
    )
    server.receive(aarq.to_bytes(), T0)
    aare = acse.ApplicationAssociationResponse.from_bytes(server.apdus_to_send()[0])
    assert aare.result == enumerations.AssociationResult.ACCEPTED
    negotiated = aare.user_information.content.negotiated_conformance
    assert negotiated.get
    assert negotiated.selective_access
    request = xdlms.GetRequestNormal(
        dcosem.CosemAttribute(
            interface=enumerations.CosemInterface.REGISTER,
            instance=dcosem.Obis(1, 0, 1, 8, 0, 255),
            attribute=2,
        )
    )
    server.receive(request.to_bytes(), T0)
    response = xdlms.GetResponseNormal.from_bytes(server.apdus_to_send()[0])
    assert response.data == bytes.fromhex("060001e240")  # double-long-unsigned 123456


def test_requests_that_find_the_counter_exhausted_end_with_an_event() -> None:
    """Two values left, three requests queued: the first two go out (the last with
    0xFFFFFFFE), the third ends with SendCounterExhausted instead of raising from receive."""
    client, server = _associated()
    client.counter.skip_to(0xFFFF_FFFD)
    ids = [client.get(ENERGY, ClassId.REGISTER, 2) for _ in range(3)]
    events = pump(client, server)
    assert [type(e) for e in events] == [GetResult, GetResult, SendCounterExhausted]
    assert events[2] == SendCounterExhausted(ids[2])
    assert client.invocation_counter == 0xFFFF_FFFF
    assert server.client_counters.last(CLIENT_TITLE) == 0xFFFF_FFFE
    with pytest.raises(CounterExhausted):
        client.get(ENERGY, ClassId.REGISTER, 2)


def test_a_retry_that_finds_the_counter_exhausted_ends_with_an_event() -> None:
    client, _server_side = _associated()
    client.counter.skip_to(0xFFFF_FFFE)
    invoke = client.get(ENERGY, ClassId.REGISTER, 2, now=0.0)
    assert len(client.apdus_to_send()) == 1  # the last value, then the answer is lost
    client.handle_timeout(client.timeout)
    assert client.apdus_to_send() == []
    assert client.events() == [SendCounterExhausted(invoke)]
    assert client.next_deadline() is None

"""Restart safety of the A-route endpoints (project issue 19).

A head end restarted many times and a meter that reboots: no GCM IV (system title ‖
invocation counter, Green Book) is ever sent twice under one key; traffic captured before a
restart is refused after it; an exhausted counter is refused by name; a key transfer
(Security setup global_key_transfer, key wrap RFC 3394) re-keys a meter and traffic goes on
under the new key only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from smartmeter_proto.aroute.acse import AARE, AARQ, RLRQ, decode_acse
from smartmeter_proto.aroute.apdu import (
    ActionRequestNormal,
    ActionResponseNormal,
    ActionResult,
    DataNotification,
    ExceptionResponse,
    ExceptionServiceError,
    decode_apdu,
)
from smartmeter_proto.aroute.association import (
    ActionResult as ActionDone,
)
from smartmeter_proto.aroute.association import (
    Associated,
    AssociationClient,
    AssociationRefused,
    AssociationServer,
    Authentication,
    ClientEvent,
    GetResult,
    Pushed,
)
from smartmeter_proto.aroute.axdr import Data, DataType
from smartmeter_proto.aroute.cosem import ClassId, CosemObject, Register, Unit
from smartmeter_proto.aroute.keys import (
    GLOBAL_KEY_TRANSFER_METHOD,
    SECURITY_SETUP_OBIS,
    KeyId,
    key_transfer_parameter,
    replay_counters,
    send_counter,
    send_counter_name,
)
from smartmeter_proto.aroute.obis import Obis
from smartmeter_proto.aroute.profile import load_catalogue
from smartmeter_proto.aroute.security import CipheringTag, decode_ciphered, unprotect
from smartmeter_proto.errors import AuthError, SessionError
from smartmeter_proto.security_state import (
    DLMS_INVOCATION_COUNTER_LIMIT,
    CounterExhausted,
    FileStateStore,
    MemoryStateStore,
    SqliteStateStore,
    StateStore,
)
from smartmeter_proto.sim.ameter import SimulatedAMeter
from smartmeter_proto.sim.load_curve import JST

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
METER_TITLE = bytes.fromhex("4D4D4D0000BC614E")

NEW_EK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
NEW_AK = bytes.fromhex("F0E1D2C3B4A5968778695A4B3C2D1E0F")
KEK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")  # RFC 3394 §4.1 KEK
CLIENT_TITLE = bytes.fromhex("4855534D00000001")
ENERGY = Obis(1, 0, 1, 8, 0, 255)
METER_ENERGY = load_catalogue().by_name("active_energy_import").obis
T0 = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
_CIPHERED = frozenset(int(t) for t in CipheringTag)
_ACSE = range(0x60, 0x64)
_GMAC_VALUE_LENGTH = 17  # SC ‖ IC ‖ 12-byte tag (Green Book HLS mechanism 5)

Sent = list[tuple[bytes, bytes]]  # (encryption key, IV) of every ciphered thing sent


def _open_store(kind: str, path: Path) -> StateStore:
    if kind == "file":
        return FileStateStore(path.with_suffix(".json"))
    return SqliteStateStore(path.with_suffix(".sqlite"))


def _objects() -> dict[Obis, CosemObject]:
    return {ENERGY: Register(ENERGY, Data(DataType.DOUBLE_LONG_UNSIGNED, 123456), 0, Unit.WH)}


def _record(sent: Sent, apdu: bytes, title: bytes, ek: bytes, ak: bytes) -> None:
    """Add the IV of every ciphered part of ``apdu`` sent by ``title`` under ``ek``: the
    ciphered APDU (or the glo-initiate inside an AARQ/AARE) and an HLS GMAC value inside."""
    ciphered: bytes | None = None
    if apdu[0] in _ACSE:
        acse = decode_acse(apdu)
        if isinstance(acse, AARQ | AARE) and isinstance(acse.user_information, bytes):
            ciphered = acse.user_information
    elif apdu[0] in _CIPHERED:
        ciphered = apdu
    if ciphered is None:
        return
    ic = decode_ciphered(ciphered).invocation_counter
    sent.append((ek, title + ic.to_bytes(4, "big")))
    plain = unprotect(ciphered, ek=ek, ak=ak, system_title=title).apdu
    if plain[0] not in (0xC3, 0xC7):  # action-request / action-response may carry f(...)
        return
    message = decode_apdu(plain)
    value = (
        message.parameters
        if isinstance(message, ActionRequestNormal)
        else message.outcome.return_parameters
        if isinstance(message, ActionResponseNormal)
        else None
    )
    if (
        isinstance(value, Data)
        and isinstance(value.value, bytes)
        and len(value.value) == _GMAC_VALUE_LENGTH
    ):
        sent.append((ek, title + value.value[1:5]))


class Link:
    """Client and server through their APDU queues; records what each side ciphers."""

    def __init__(
        self,
        client: AssociationClient,
        server: AssociationServer,
        client_keys: tuple[bytes, bytes] = (EK, AK),
        server_keys: tuple[bytes, bytes] = (EK, AK),
    ) -> None:
        self.client, self.server = client, server
        self.client_keys, self.server_keys = client_keys, server_keys
        self.client_sent: Sent = []
        self.server_sent: Sent = []
        self.server_apdus: list[bytes] = []
        self.client_apdus: list[bytes] = []

    def pump(self, now: datetime = T0) -> list[ClientEvent]:
        events: list[ClientEvent] = []
        for _ in range(200):
            requests = self.client.apdus_to_send()
            if not requests:
                break
            for apdu in requests:
                self.client_apdus.append(apdu)
                _record(self.client_sent, apdu, CLIENT_TITLE, *self.client_keys)
                self.server.receive(apdu, now)
            for apdu in self.server.apdus_to_send():
                self.server_apdus.append(apdu)
                _record(self.server_sent, apdu, METER_TITLE, *self.server_keys)
                self.client.receive(apdu, now.timestamp())
            events += self.client.events()
        return events + self.client.events()

    def push(self) -> bytes:
        body = DataNotification(Data(DataType.DOUBLE_LONG_UNSIGNED, 1)).encode()
        apdu = self.server.protect_apdu(body)
        _record(self.server_sent, apdu, METER_TITLE, *self.server_keys)
        return apdu


def _client(
    store: StateStore,
    *,
    ek: bytes = EK,
    ak: bytes = AK,
    block: int = 4,
    authentication: Authentication = Authentication.HLS_GMAC,
    general_ciphering: bool = False,
) -> AssociationClient:
    return AssociationClient(
        system_title=CLIENT_TITLE,
        ek=ek,
        ak=ak,
        server_system_title=METER_TITLE,
        authentication=authentication,
        challenge=lambda: b"C" * 16,
        general_ciphering=general_ciphering,
        counter=send_counter(store, CLIENT_TITLE, ek, block=block),
        server_counters=replay_counters(store, CLIENT_TITLE, ek),
    )


def _server(
    store: StateStore, *, block: int = 4, authentication: Authentication = Authentication.HLS_GMAC
) -> AssociationServer:
    return AssociationServer(
        _objects(),
        system_title=METER_TITLE,
        ek=EK,
        ak=AK,
        authentication=authentication,
        challenge=lambda: b"S" * 16,
        counter=send_counter(store, METER_TITLE, EK, block=block),
        client_counters=replay_counters(store, METER_TITLE, EK),
    )


def _associate(link: Link) -> None:
    link.client.associate(0.0)
    events = link.pump()
    assert isinstance(events[-1], Associated), events


def _read(link: Link, obis: Obis = ENERGY) -> Data | int:
    invoke = link.client.get(obis, ClassId.REGISTER, 2)
    [result] = [e for e in link.pump() if isinstance(e, GetResult)]
    assert result.invoke_id == invoke
    return result.result


# --------------------------------------------------------------------- no IV twice


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_restarted_server_and_client_never_send_an_iv_twice(tmp_path: Path, kind: str) -> None:
    """Six restarts of both ends, each a new object on the same store (a new process): HLS,
    glo-initiate, reads and pushes; every (key, IV) either end sends is new."""
    client_sent: Sent = []
    server_sent: Sent = []
    for restart in range(6):
        link = Link(
            _client(_open_store(kind, tmp_path / "hes")),
            _server(_open_store(kind, tmp_path / "meter")),
        )
        _associate(link)
        for _ in range(restart % 3 + 1):  # uneven use: some runs end mid-block, some after
            assert _read(link) == Data(DataType.DOUBLE_LONG_UNSIGNED, 123456)
        link.push()
        client_sent += link.client_sent
        server_sent += link.server_sent
    assert len(server_sent) == len(set(server_sent)) > 6 * 4
    assert len(client_sent) == len(set(client_sent)) > 6 * 3
    assert {iv[:8] for _, iv in server_sent} == {METER_TITLE}


def test_restarted_server_object_reopens_its_counter(tmp_path: Path) -> None:
    """AssociationServer.restarted() (a meter reboot in the simulators) reopens the counter
    from its store rather than carrying the in-memory value."""
    store = FileStateStore(tmp_path / "meter.json")
    link = Link(_client(MemoryStateStore()), _server(store, block=8))
    _associate(link)
    _read(link)
    before = link.server.invocation_counter
    restarted = link.server.restarted()
    assert restarted.invocation_counter == 9 > before  # the rest of the block is skipped
    link2 = Link(_client(MemoryStateStore()), restarted)
    link2.client.counter.skip_to(100)  # the client carries on above what the meter saw
    _associate(link2)
    assert not set(link.server_sent) & set(link2.server_sent)


# --------------------------------------------------------------------- replays after restart


def test_a_request_captured_before_a_restart_is_refused_after_it(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "meter.sqlite")
    link = Link(
        _client(MemoryStateStore(), authentication=Authentication.LOWEST, general_ciphering=True),
        _server(store, authentication=Authentication.LOWEST),
    )
    _associate(link)
    _read(link)
    captured = link.client_apdus[-1]  # general-glo-ciphering: it names its sender
    assert captured[0] == CipheringTag.GENERAL_GLO_CIPHERING

    restarted = _server(
        SqliteStateStore(tmp_path / "meter.sqlite"), authentication=Authentication.LOWEST
    )
    restarted.receive(captured, T0)
    [answer] = restarted.apdus_to_send()
    refused = decode_apdu(answer)
    assert isinstance(refused, ExceptionResponse)
    assert refused.service_error == ExceptionServiceError.INVOCATION_COUNTER_ERROR
    assert restarted.stats.replayed == 1

    # Control: a server whose window lived only in memory takes the same bytes as new.
    forgetful = AssociationServer(
        _objects(),
        system_title=METER_TITLE,
        ek=EK,
        ak=AK,
        counter=send_counter(MemoryStateStore(), METER_TITLE, EK),
    )
    forgetful.receive(captured, T0)
    assert forgetful.stats.replayed == 0
    assert forgetful.stats.refused_not_associated == 1  # deciphered, then refused: no session


def test_a_push_captured_before_a_client_restart_is_refused_after_it(tmp_path: Path) -> None:
    hes = tmp_path / "hes.json"
    link = Link(_client(FileStateStore(hes)), _server(MemoryStateStore()))
    _associate(link)
    push = link.push()
    link.client.receive(push, 0.0)
    assert [e for e in link.client.events() if isinstance(e, Pushed)]

    again = _client(FileStateStore(hes))
    again.receive(push, 0.0)
    assert again.events() == []
    assert again.stats.auth_failed == 1
    fresh = link.push()  # the meter's next counter is accepted
    again.receive(fresh, 0.0)
    assert [e for e in again.events() if isinstance(e, Pushed)]


# --------------------------------------------------------------------- exhaustion


def _at_last_value(store: StateStore, title: bytes) -> None:
    """Put ``title``'s counter under EK at 2^32 - 2, the last value it may use."""
    store.write(send_counter_name(title, EK), DLMS_INVOCATION_COUNTER_LIMIT - 1)


def test_client_exhaustion_is_refused_by_name_from_the_request_call() -> None:
    store = MemoryStateStore()
    link = Link(
        _client(store, authentication=Authentication.LOWEST),
        _server(MemoryStateStore(), authentication=Authentication.LOWEST),
    )
    _associate(link)
    link.client.counter.skip_to(DLMS_INVOCATION_COUNTER_LIMIT - 1)
    assert _read(link) == Data(DataType.DOUBLE_LONG_UNSIGNED, 123456)  # IC 0xFFFFFFFE
    assert decode_ciphered(link.client_apdus[-1]).invocation_counter == 0xFFFF_FFFE
    with pytest.raises(CounterExhausted) as refused:
        link.client.get(ENERGY, ClassId.REGISTER, 2)
    assert isinstance(refused.value, SessionError)
    assert not isinstance(refused.value, ValueError)
    assert link.client.apdus_to_send() == []
    # A restarted client on the same store is exhausted as well (never wraps to 0).
    again = _client(store, authentication=Authentication.LOWEST)
    assert again.invocation_counter == DLMS_INVOCATION_COUNTER_LIMIT
    with pytest.raises(CounterExhausted):
        again.associate(0.0)


def test_server_exhaustion_answers_nothing_more_and_counts_it(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "meter.json")
    _at_last_value(store, METER_TITLE)
    server = _server(store, authentication=Authentication.LOWEST)
    link = Link(_client(MemoryStateStore(), authentication=Authentication.LOWEST), server)
    _associate(link)  # the glo-initiate-response takes 0xFFFFFFFE, the last value
    assert server.exhausted
    link.client.get(ENERGY, ClassId.REGISTER, 2)
    assert link.pump() == []  # nothing more under this key
    assert server.stats.counter_exhausted == 1
    assert server.stats.malformed == 0
    with pytest.raises(CounterExhausted):
        link.push()
    assert server.stats.counter_exhausted == 2
    assert server.restarted().exhausted  # and after a restart


def test_an_exhausted_meter_drops_pushes_and_counts_them() -> None:
    store = MemoryStateStore()
    _at_last_value(store, METER_TITLE)
    meter = SimulatedAMeter(
        start=T0,
        system_title=METER_TITLE,
        client_system_title=CLIENT_TITLE,
        ek=EK,
        ak=AK,
        state=store,
        push_5min=True,
    )
    meter.tick(T0 + timedelta(minutes=40))
    assert len(meter.pushes_to_send()) == 1
    assert meter.exhausted_pushes > 0
    assert meter.invocation_counter == DLMS_INVOCATION_COUNTER_LIMIT


# --------------------------------------------------------------------- key transfer


def _meter(store: StateStore) -> SimulatedAMeter:
    return SimulatedAMeter(
        start=T0,
        system_title=METER_TITLE,
        client_system_title=CLIENT_TITLE,
        ek=EK,
        ak=AK,
        state=store,
    )


def _meter_link(store: StateStore, **server: object) -> tuple[SimulatedAMeter, Link]:
    meter = _meter(store)
    link = Link(
        _client(MemoryStateStore()),
        meter.association_server(
            authentication=Authentication.HLS_GMAC,
            challenge=lambda: b"S" * 16,
            client_counters=replay_counters(store, METER_TITLE, EK),
            **server,
        ),
    )  # type: ignore[arg-type]
    _associate(link)
    return meter, link


def _transfer(link: Link, kek: bytes = KEK, ek: bytes = NEW_EK, ak: bytes = NEW_AK) -> ActionDone:
    invoke = link.client.transfer_keys(kek, ek=ek, ak=ak)
    [done] = [e for e in link.pump() if isinstance(e, ActionDone)]
    assert done.invoke_id == invoke
    return done


def test_key_transfer_re_keys_the_meter_and_traffic_continues_under_the_new_key() -> None:
    store = MemoryStateStore()
    meter, link = _meter_link(store, master_key=KEK)
    register = meter.catalogue.by_name("active_energy_import").obis
    before = link.server.invocation_counter
    done = _transfer(link)
    assert done.result == ActionResult.SUCCESS
    answer = link.server_apdus[-1]
    assert unprotect(answer, ek=EK, ak=AK, system_title=METER_TITLE).apdu  # under the old key
    assert link.server.stats.keys_transferred == 1

    # From now on both ends use the new keys; the meter's counter starts again under them.
    link.client_keys = link.server_keys = (NEW_EK, NEW_AK)
    invoke = link.client.get(register, ClassId.REGISTER, 2)
    [got] = [e for e in link.pump() if isinstance(e, GetResult)]
    assert got.invoke_id == invoke
    assert isinstance(got.result, Data)
    request, response = link.client_apdus[-1], link.server_apdus[-1]
    assert unprotect(request, ek=NEW_EK, ak=NEW_AK, system_title=CLIENT_TITLE).apdu
    assert decode_ciphered(response).invocation_counter == 1 < before
    assert meter.send_counter is link.server.counter
    assert meter.send_counter.name == send_counter_name(METER_TITLE, NEW_EK)

    # Pushes follow the server's keys.
    meter.tick(T0 + timedelta(hours=2))
    pushes = meter.pushes_to_send()
    assert pushes
    for push in pushes:
        assert unprotect(push, ek=NEW_EK, ak=NEW_AK).system_title == METER_TITLE

    # The old key opens nothing new.
    for sent in (response, push):
        with pytest.raises(AuthError, match="tag does not verify"):
            unprotect(sent, ek=EK, ak=AK, system_title=METER_TITLE)
    stale = Link(_client(MemoryStateStore()), link.server)
    stale.client.associate(0.0)
    assert isinstance(stale.pump()[-1], AssociationRefused)
    assert link.server.stats.auth_failed >= 1


def test_a_key_that_comes_back_continues_its_counter(tmp_path: Path) -> None:
    """EK -> NEW_EK -> EK: the counter of EK resumes where it stopped (no IV twice under EK),
    across a restart of the meter as well."""
    store = FileStateStore(tmp_path / "meter.json")
    _meter_obj, link = _meter_link(store, master_key=KEK)
    sent: Sent = []
    assert _transfer(link).result == ActionResult.SUCCESS
    sent += link.server_sent
    link.client_keys = link.server_keys = (NEW_EK, NEW_AK)
    link.server_sent = []
    link.push()
    assert _transfer(link, ek=EK, ak=AK).result == ActionResult.SUCCESS
    sent += link.server_sent
    link.client_keys = link.server_keys = (EK, AK)
    link.server_sent = []
    restarted = link.server.restarted()
    again = Link(link.client, restarted)
    again.client.release()
    again.pump()
    _associate(again)
    again.push()
    sent += link.server_sent + again.server_sent
    assert len(sent) == len(set(sent))
    assert {key for key, _ in sent} == {EK, NEW_EK}


def test_key_transfer_is_refused_without_master_key_or_authentication() -> None:
    _, link = _meter_link(MemoryStateStore())  # no master key
    assert _transfer(link).result == ActionResult.READ_WRITE_DENIED
    assert isinstance(_read(link, METER_ENERGY), Data)  # the old keys still in force
    _, link = _meter_link(MemoryStateStore(), master_key=KEK)
    parameter = key_transfer_parameter(KEK, {KeyId.GLOBAL_UNICAST_ENCRYPTION: NEW_EK})
    link.client.action(
        SECURITY_SETUP_OBIS,
        ClassId.SECURITY_SETUP,
        GLOBAL_KEY_TRANSFER_METHOD,
        parameter,
        ciphered=False,
    )
    [plain] = [e for e in link.pump() if isinstance(e, ActionDone)]
    assert plain.result == ActionResult.READ_WRITE_DENIED
    assert link.server.stats.key_transfers_refused == 1
    assert link.server.stats.keys_transferred == 0


def test_a_key_wrapped_with_another_master_key_changes_nothing() -> None:
    _, link = _meter_link(MemoryStateStore(), master_key=KEK)
    assert _transfer(link, kek=bytes(16)).result == ActionResult.OTHER_REASON
    assert link.server.stats.keys_transferred == 0
    invoke = link.client.get(ENERGY, ClassId.REGISTER, 2)  # still under the old keys
    [got] = [e for e in link.pump() if isinstance(e, GetResult)]
    assert got.invoke_id == invoke


def test_an_exhausted_meter_is_re_keyed_by_a_key_transfer() -> None:
    """The way out of exhaustion: the transfer's answer cannot be sent, the keys change
    anyway and a new association under them works."""
    store = MemoryStateStore()
    _, link = _meter_link(store, master_key=KEK)
    link.server.counter.skip_to(DLMS_INVOCATION_COUNTER_LIMIT)
    assert link.server.exhausted
    link.client.transfer_keys(KEK, ek=NEW_EK, ak=NEW_AK)
    assert link.pump() == []
    assert link.server.stats.counter_exhausted == 1
    assert link.server.stats.keys_transferred == 1
    assert not link.server.exhausted
    fresh = Link(
        _client(MemoryStateStore(), ek=NEW_EK, ak=NEW_AK),
        link.server,
        client_keys=(NEW_EK, NEW_AK),
        server_keys=(NEW_EK, NEW_AK),
    )
    link.server.receive(RLRQ().encode(), T0)  # the old association ends
    link.server.apdus_to_send()
    _associate(fresh)
    assert isinstance(_read(fresh, METER_ENERGY), Data)

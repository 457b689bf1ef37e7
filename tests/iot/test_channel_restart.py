"""Restart-safe security of the IoT route: no AES-CCM nonce reused, replay floors that survive.

RFC 9053 §4.2: an AES-CCM nonce must never be used twice under one key; the nonce is the
Common IV XOR the Partial IV (RFC 9052 §3.1), so the pair (kid, Partial IV) of every frame
ever sealed must be unique. The head-end and the meters are restarted (new objects on the
same JSON file or SQLite database, without closing the old ones: a crash) between sends;
every frame either side seals is collected and its kid and Partial IV decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest

from smartmeter_proto.echonet.frame import ArbitraryFrame
from smartmeter_proto.errors import AuthError
from smartmeter_proto.iot import cose
from smartmeter_proto.iot.backfill import BackfillCollector
from smartmeter_proto.iot.channel import ChannelKeys, SecureChannel, meter_of_kid
from smartmeter_proto.iot.frame import BackfillRequest, Header, MeterKind, Reading, Route
from smartmeter_proto.iot.headend import Dropped, HeadEnd, ReadingReceived
from smartmeter_proto.iot.relay import IotRelay
from smartmeter_proto.iot.senml import SenmlPack, SenmlRecord
from smartmeter_proto.iot.sequence import SEQ_LIMIT, counter_name
from smartmeter_proto.iot.valve import ValveController
from smartmeter_proto.security_state import (
    CounterExhausted,
    FileStateStore,
    MemoryStateStore,
    SqliteStateStore,
    StateStore,
)
from smartmeter_proto.sim.iotmeter import SimulatedIotMeter

METER: Final = "gas-0001"
KEYS: Final = ChannelKeys(METER, bytes([1]) * 16, bytes([2]) * 16, bytes([3]) * 13)
NEW_KEYS: Final = ChannelKeys(METER, bytes([4]) * 16, bytes([5]) * 16, bytes([6]) * 13, epoch=1)
HES: Final = ("127.0.0.1", 47000)
METER_ADDR: Final = ("127.0.0.2", 47001)

Opener = Callable[[], StateStore]


def opener(kind: str, path: Path) -> Opener:
    """A function that opens the store at ``path`` again, as a restarted process would."""
    if kind == "file":
        return lambda: FileStateStore(path.with_suffix(".json"))
    if kind == "sqlite":
        return lambda: SqliteStateStore(path.with_suffix(".sqlite"))
    assert kind == "lost"  # every restart starts from nothing: the behaviour of issue 19
    return MemoryStateStore


@pytest.fixture(params=["file", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def kid_and_nonce(data: bytes) -> tuple[bytes, bytes]:
    """The (kid, AES-CCM nonce) a sealed frame was protected with."""
    message = cose.decode_encrypt0(data)
    assert message.kid is not None
    assert message.partial_iv is not None
    key = {KEYS.uplink_kid: KEYS, KEYS.downlink_kid: KEYS}.get(message.kid, NEW_KEYS)
    return message.kid, cose.nonce_from_partial_iv(key.common_iv, message.partial_iv)


def run_restarts(open_headend: Opener, open_meter: Opener, runs: int = 4) -> list[bytes]:
    """Readings up with one lost per run (so back-fill requests come down), restarts between.

    Returns every frame sealed by either side, in order.
    """
    sealed: list[bytes] = []
    t = 0.0
    for _ in range(runs):
        headend = HeadEnd(
            [KEYS],
            state_store=open_headend(),
            collector=BackfillCollector(request_timeout=5.0, retry_limit=2),
        )
        meter = SimulatedIotMeter(
            KEYS, MeterKind.GAS, headend=HES, start=t, state_store=open_meter(), interval=1.0
        )
        for step in range(1, 8):
            t += 1.0
            meter.handle_timeout(t)
            up = [data for data, _ in meter.datagrams_to_send()]
            sealed.extend(up)
            for data in up if step != 3 else []:  # the third reading of each run is lost
                headend.receive_datagram(data, METER_ADDR, t)
            down = [data for data, _ in headend.datagrams_to_send()]
            sealed.extend(down)
            for data in down:
                meter.receive_datagram(data, HES, t)
            answers = [data for data, _ in meter.datagrams_to_send()]
            sealed.extend(answers)
            for data in answers:
                headend.receive_datagram(data, METER_ADDR, t)
        assert headend.collector.completeness(METER).ratio == 1.0  # back-fill worked
    return sealed


def test_no_kid_nonce_pair_is_ever_used_twice_across_restarts(kind: str, tmp_path: Path) -> None:
    sealed = run_restarts(opener(kind, tmp_path / "hes"), opener(kind, tmp_path / "meter"))
    pairs = [kid_and_nonce(data) for data in sealed]
    kids = {kid for kid, _ in pairs}
    assert kids == {KEYS.uplink_kid, KEYS.downlink_kid}  # both directions were exercised
    assert sum(kid == KEYS.downlink_kid for kid, _ in pairs) >= 4  # a request per run
    assert len(set(pairs)) == len(pairs)


def test_the_check_catches_the_reuse_a_state_less_restart_makes(tmp_path: Path) -> None:
    """Control: with the state lost at each restart (the old behaviour) nonces repeat."""
    sealed = run_restarts(opener("lost", tmp_path), opener("lost", tmp_path))
    pairs = [kid_and_nonce(data) for data in sealed]
    assert len(set(pairs)) < len(pairs)


def test_counter_blocks_crossed_between_crashes_never_repeat(kind: str, tmp_path: Path) -> None:
    """Small reservation blocks: crashes fall inside and at the end of blocks alike."""
    open_store = opener(kind, tmp_path / "meter")
    seqs: list[int] = []
    for run in range(6):
        channel = SecureChannel(KEYS, side="meter", state_store=open_store(), block=3)
        for _ in range(run % 4 + 1):
            data = channel.seal(reading(1))
            partial_iv = cose.decode_encrypt0(data).partial_iv
            assert partial_iv is not None
            seqs.append(cose.seq_from_partial_iv(partial_iv))
    assert len(set(seqs)) == len(seqs)
    assert seqs == sorted(seqs)


def reading(seq: int, keys: ChannelKeys = KEYS) -> Reading:
    pack = SenmlPack((SenmlRecord(name="volume", unit="m3", value=float(seq)),))
    return Reading(Header(keys.meter_id, MeterKind.GAS, Route.A_IOT, seq), pack)


def test_uplink_captured_before_a_head_end_restart_is_refused_after_it(
    kind: str, tmp_path: Path
) -> None:
    open_headend = opener(kind, tmp_path / "hes")
    meter = SecureChannel(KEYS, side="meter", state_store=MemoryStateStore())
    captured = [meter.seal(reading(n)) for n in range(1, 6)]
    headend = HeadEnd([KEYS], state_store=open_headend())
    for data in captured:
        events = headend.receive_datagram(data, METER_ADDR, 1.0)
        assert isinstance(events[0], ReadingReceived)

    restarted = HeadEnd([KEYS], state_store=open_headend())
    for data in captured:  # the newest, the ones inside the window and the oldest
        assert restarted.receive_datagram(data, METER_ADDR, 2.0) == [Dropped(METER_ADDR, "replay")]
    assert restarted.collector.completeness(METER).received == 0
    # The meter's next frame goes through: the restart costs no live traffic.
    fresh = restarted.receive_datagram(meter.seal(reading(6)), METER_ADDR, 3.0)
    assert fresh[0] == ReadingReceived(METER, 6)


def test_downlink_captured_before_a_meter_restart_is_refused_after_it(
    kind: str, tmp_path: Path
) -> None:
    open_meter = opener(kind, tmp_path / "meter")
    headend = SecureChannel(KEYS, side="headend", state_store=MemoryStateStore())
    header = Header(METER, MeterKind.GAS, Route.A_IOT, 1)
    request = headend.seal(BackfillRequest(header, 1, 1, 4))
    meter = SecureChannel(KEYS, side="meter", state_store=open_meter())
    assert isinstance(meter.open(request, 1.0), BackfillRequest)
    restarted = SecureChannel(KEYS, side="meter", state_store=open_meter())
    with pytest.raises(AuthError, match="replayed"):
        restarted.open(request, 2.0)
    # The simulated meter refuses it as well, and answers nothing.
    sim = SimulatedIotMeter(KEYS, MeterKind.GAS, headend=HES, start=0.0, state_store=open_meter())
    sim.receive_datagram(request, HES, 3.0)
    assert sim.dropped == 1
    assert sim.datagrams_to_send() == []


def test_a_forged_frame_never_raises_the_replay_floor(kind: str, tmp_path: Path) -> None:
    """The floor is written only after the tag verified: a forgery with a huge Partial IV
    must not lock the genuine meter out, before or after a restart."""
    open_headend = opener(kind, tmp_path / "hes")
    forged = cose.protect_encrypt0(
        b"\xa0",
        key=bytes(16),  # right kid, wrong key
        kid=KEYS.uplink_kid,
        common_iv=KEYS.common_iv,
        seq=10**9,
        external_aad=cose.build_external_aad(METER, "A-IoT", 10**9),
    )
    headend = HeadEnd([KEYS], state_store=open_headend())
    assert headend.receive_datagram(forged, METER_ADDR, 1.0) == [
        Dropped(METER_ADDR, "authentication")
    ]
    meter = SecureChannel(KEYS, side="meter", state_store=MemoryStateStore())
    restarted = HeadEnd([KEYS], state_store=open_headend())
    events = restarted.receive_datagram(meter.seal(reading(1)), METER_ADDR, 2.0)
    assert events[0] == ReadingReceived(METER, 1)


# --------------------------------------------------------------------------- exhaustion


def test_the_send_counter_refuses_at_the_partial_iv_limit(kind: str, tmp_path: Path) -> None:
    open_store = opener(kind, tmp_path / "meter")
    store = open_store()
    store.write(counter_name(METER, KEYS.uplink_kid), SEQ_LIMIT - 2)
    channel = SecureChannel(KEYS, side="meter", state_store=store)
    last = [cose.decode_encrypt0(channel.seal(reading(n))).partial_iv for n in (1, 2)]
    assert last == [(SEQ_LIMIT - 2).to_bytes(5, "big"), (SEQ_LIMIT - 1).to_bytes(5, "big")]
    assert SEQ_LIMIT == 2**40 - 1  # a Partial IV takes at most 5 bytes (RFC 8613 §7.2.1)
    with pytest.raises(CounterExhausted, match="replace the key"):
        channel.seal(reading(3))
    # A restart does not help: the exhaustion is durable.
    again = SecureChannel(KEYS, side="meter", state_store=open_store())
    with pytest.raises(CounterExhausted):
        again.seal(reading(3))
    # A new key (a new kid) gets a fresh counter.
    again.rekey(NEW_KEYS, 10.0)
    assert cose.decode_encrypt0(again.seal(reading(3))).partial_iv == b"\x01"


def test_the_head_end_stops_sending_to_an_exhausted_meter_and_keeps_collecting() -> None:
    store = MemoryStateStore()
    store.write(counter_name(METER, KEYS.downlink_kid), SEQ_LIMIT)
    headend = HeadEnd([KEYS], state_store=store, collector=BackfillCollector(request_timeout=5.0))
    meter = SecureChannel(KEYS, side="meter", state_store=MemoryStateStore())
    for n in (1, 3):  # seq 2 is missing: the collector wants a back-fill request out
        headend.receive_datagram(meter.seal(reading(n)), METER_ADDR, float(n))
    assert headend.datagrams_to_send() == []
    assert headend.dropped["send counter exhausted"] == 1
    assert headend.collector.completeness(METER).received == 2


def test_valve_channels_refuse_at_the_limit_and_survive_restarts(tmp_path: Path) -> None:
    open_store = opener("file", tmp_path / "valve")

    def controller() -> ValveController:
        return ValveController(
            METER,
            MeterKind.GAS,
            keys_by_kid={b"he": bytes(range(16))},
            send_kid=b"dev",
            send_key=bytes(range(16, 32)),
            common_iv=bytes(13),
            state_store=open_store(),
        )

    first = controller()
    seqs = [first.next_seq]
    first.status_frame(0.0)
    restarted = controller()
    seqs.append(restarted.next_seq)
    assert seqs[1] > seqs[0]  # a restart never hands out a seq again
    store = open_store()
    store.write(counter_name(METER, b"dev"), SEQ_LIMIT)
    with pytest.raises(CounterExhausted):
        ValveController(
            METER,
            MeterKind.GAS,
            keys_by_kid={b"he": bytes(range(16))},
            send_kid=b"dev",
            send_key=bytes(range(16, 32)),
            common_iv=bytes(13),
            state_store=store,
        ).status_frame(0.0)


def test_an_encrypting_channel_cannot_be_built_without_a_store() -> None:
    with pytest.raises(TypeError, match="state_store"):
        SecureChannel(KEYS, side="meter")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="state_store"):
        HeadEnd([KEYS])  # type: ignore[call-arg]


# --------------------------------------------------------------------------- re-keying


def test_rekey_mid_stream_loses_no_frame(kind: str, tmp_path: Path) -> None:
    """Head-end re-keyed first, the meter three readings later, frames two steps in flight;
    one reading lost right after the switch is back-filled under the new keys."""
    open_headend, open_meter = opener(kind, tmp_path / "hes"), opener(kind, tmp_path / "meter")
    headend = HeadEnd(
        [KEYS],
        state_store=open_headend(),
        collector=BackfillCollector(request_timeout=2.0, retry_limit=5),
        rekey_grace_s=10.0,
    )
    meter = SimulatedIotMeter(
        KEYS, MeterKind.GAS, headend=HES, start=0.0, state_store=open_meter(), interval=1.0
    )
    in_flight: list[tuple[float, bytes]] = []
    uplink: list[bytes] = []
    for step in range(1, 31):
        now = float(step)
        if step == 10:
            headend.rekey(NEW_KEYS, now)
        if step == 13:
            meter.channel.rekey(NEW_KEYS, now)
        if step <= 25:
            meter.handle_timeout(now)
        for data, _ in meter.datagrams_to_send():
            uplink.append(data)
            if step != 14:  # the first reading under the new key is lost on the radio
                in_flight.append((now + 2.0, data))
        for data in [d for at, d in in_flight if at <= now]:
            headend.receive_datagram(data, METER_ADDR, now)
        in_flight = [(at, d) for at, d in in_flight if at > now]
        headend.handle_timeout(now)
        for data, _ in headend.datagrams_to_send():
            meter.receive_datagram(data, HES, now)
    assert len(meter.produced) == 25
    assert headend.values(METER) == meter.produced
    assert sum(headend.dropped.values()) == 0
    kids = [cose.decode_encrypt0(data).kid for data in uplink]
    assert kids.count(KEYS.uplink_kid) == 12  # readings 1..12 under the old key
    assert kids.count(NEW_KEYS.uplink_kid) == len(uplink) - 12
    first_new = next(d for d in uplink if cose.decode_encrypt0(d).kid == NEW_KEYS.uplink_kid)
    assert cose.decode_encrypt0(first_new).partial_iv == b"\x01"  # fresh only for a new key
    pairs = [kid_and_nonce(data) for data in uplink]
    assert len(set(pairs)) == len(pairs)


def test_old_key_accepted_during_grace_only_and_new_counter_survives_restart(
    tmp_path: Path,
) -> None:
    open_headend = opener("sqlite", tmp_path / "hes")
    headend = HeadEnd([KEYS], state_store=open_headend(), rekey_grace_s=60.0)
    old_meter = SecureChannel(KEYS, side="meter", state_store=MemoryStateStore())
    assert headend.receive_datagram(old_meter.seal(reading(1)), METER_ADDR, 0.0)
    headend.rekey(NEW_KEYS, 100.0)
    late = headend.receive_datagram(old_meter.seal(reading(2)), METER_ADDR, 159.0)
    assert late[0] == ReadingReceived(METER, 2)  # still inside the grace period
    expired = headend.receive_datagram(old_meter.seal(reading(3)), METER_ADDR, 160.0)
    assert expired == [Dropped(METER_ADDR, "unknown kid")]
    # A restarted head-end with the new keys continues the new downlink counter.
    channel = SecureChannel(NEW_KEYS, side="headend", state_store=open_headend())
    sent = [channel.seal(BackfillRequest(Header(METER, MeterKind.GAS, Route.A_IOT, 1), 1, 1, 1))]
    restarted = SecureChannel(NEW_KEYS, side="headend", state_store=open_headend())
    sent.append(
        restarted.seal(BackfillRequest(Header(METER, MeterKind.GAS, Route.A_IOT, 2), 2, 1, 1))
    )
    ivs = [cose.decode_encrypt0(data).partial_iv for data in sent]
    assert len(set(ivs)) == 2


def test_rekey_refuses_an_old_epoch_a_kept_key_or_another_meter() -> None:
    channel = SecureChannel(KEYS, side="headend", state_store=MemoryStateStore())
    with pytest.raises(ValueError, match="epoch"):
        channel.rekey(ChannelKeys(METER, bytes([7]) * 16, bytes([8]) * 16, bytes(13)), 0.0)
    with pytest.raises(ValueError, match="new keys"):
        channel.rekey(ChannelKeys(METER, KEYS.uplink_key, bytes([8]) * 16, bytes(13), epoch=1), 0.0)
    with pytest.raises(ValueError, match="meter id"):
        channel.rekey(ChannelKeys("gas-0002", bytes([7]) * 16, bytes([8]) * 16, bytes(13), 1), 0.0)
    with pytest.raises(ValueError, match="not collected"):
        HeadEnd([KEYS], state_store=MemoryStateStore()).rekey(
            ChannelKeys("gas-0002", bytes([7]) * 16, bytes([8]) * 16, bytes(13), 1), 0.0
        )


def test_kids_name_the_meter_and_epoch_and_the_relay_reads_both() -> None:
    assert (KEYS.uplink_kid, NEW_KEYS.downlink_kid) == (b"gas-0001/up", b"gas-0001/down/1")
    assert [meter_of_kid(k) for k in (b"gas-0001/up", b"a/b/down/12", b"x/sideways", None)] == [
        "gas-0001",
        "a/b",
        None,
        None,
    ]
    relay = IotRelay(headend=HES)
    meter = SecureChannel(NEW_KEYS, side="meter", state_store=MemoryStateStore())
    up = relay(ArbitraryFrame(1, meter.seal(reading(1, NEW_KEYS))), METER_ADDR, 0.0)
    assert [dest for _, dest in up] == [HES]
    assert relay.counters["up"] == 1

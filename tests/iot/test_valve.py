"""Valve control over the IoT route (``smartmeter_proto.iot.valve``): fake time, in memory.

No published valve-control captures exist for this profile; the frames are built by our own
``iot.frame`` + ``iot.cose`` codecs (which test_frame.py / test_cose.py check against RFC 9052
/ cose-wg vectors), and these tests check the behaviour the METI next-generation metering
requirement asks of relayed valve commands: no effect on replay, stale, forged or malformed
input; reservations readable and cancellable before they take effect.
"""

from __future__ import annotations

from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.iot import cose, frame
from smartmeter_proto.iot.frame import (
    AckResult,
    Header,
    MeterKind,
    Route,
    ValveAck,
    ValveAction,
    ValveCommand,
    ValveReservation,
    ValveState,
    ValveStatus,
)
from smartmeter_proto.iot.valve import (
    DOWNLINK_TAG,
    Acknowledged,
    CommandDuplicate,
    GaveUp,
    Rejected,
    RejectReason,
    ReservationCancelled,
    ReservationExpired,
    ReservationFired,
    ReservationStored,
    StatusReported,
    UnmatchedAck,
    ValveChanged,
    ValveCommander,
    ValveController,
)
from smartmeter_proto.security_state import MemoryStateStore

METER: Final = "JP-GAS-000123"
HE_KID: Final = b"he"  # head-end -> meter
HE_KEY: Final = bytes(range(0x10, 0x20))
DEV_KID: Final = b"dev"  # meter -> head-end
DEV_KEY: Final = bytes(range(0x20, 0x30))
COMMON_IV: Final = bytes(range(13))
T0: Final = 1_700_000_000.0


def make_pair(
    window: int = 64, state: ValveState = ValveState.CLOSED, *, he_key: bytes = HE_KEY
) -> tuple[ValveController, ValveCommander]:
    dev = ValveController(
        METER,
        MeterKind.GAS,
        keys_by_kid={HE_KID: HE_KEY},
        send_kid=DEV_KID,
        send_key=DEV_KEY,
        common_iv=COMMON_IV,
        state_store=MemoryStateStore(),
        replay_window=cose.ReplayWindow(window),
        state=state,
    )
    he = ValveCommander(
        METER,
        MeterKind.GAS,
        keys_by_kid={DEV_KID: DEV_KEY},
        send_kid=HE_KID,
        send_key=he_key,
        common_iv=COMMON_IV,
        state_store=MemoryStateStore(),
        retry_interval_s=10.0,
        max_attempts=3,
    )
    return dev, he


def deliver_up(dev: ValveController, he: ValveCommander, now: float) -> list[object]:
    events: list[object] = []
    for data in dev.frames_to_send():
        events.extend(he.receive(data, now))
    return events


def opened_answers(dev: ValveController) -> list[frame.Message]:
    """Decrypt what the meter queued (as the head-end would) without consuming a commander."""
    out = []
    for data in dev.frames_to_send():
        opened = cose.open_encrypt0(
            data,
            keys_by_kid={DEV_KID: DEV_KEY},
            common_iv=COMMON_IV,
            external_aad_for=lambda _k, seq: cose.build_external_aad(
                METER, "valve/meter->head-end", seq
            ),
        )
        out.append(frame.decode(opened.payload))
    return out


def test_immediate_close_then_open() -> None:
    dev, he = make_pair(state=ValveState.OPEN)
    events = dev.receive(he.command(ValveAction.CLOSE, None, T0), T0)
    assert events == [ValveChanged(ValveState.OPEN, ValveState.CLOSED, 1)]
    assert dev.state is ValveState.CLOSED
    up = deliver_up(dev, he, T0)
    assert up == [Acknowledged(1, AckResult.DONE, False), StatusReported(ValveState.CLOSED, None)]
    assert he.state() == ValveState.CLOSED
    assert he.outstanding() == []
    assert he.next_deadline() is None

    events = dev.receive(he.command(ValveAction.OPEN, None, T0 + 1), T0 + 1)
    assert events == [ValveChanged(ValveState.CLOSED, ValveState.OPEN, 2)]
    deliver_up(dev, he, T0 + 1)
    assert he.state() == ValveState.OPEN
    assert dev.counters["actuated"] == 2


def test_answers_carry_increasing_own_seq_and_our_header() -> None:
    dev, he = make_pair()
    dev.receive(he.command(ValveAction.OPEN, None, T0), T0)
    answers = opened_answers(dev)
    assert [type(m) for m in answers] == [ValveAck, ValveStatus]
    assert [m.header.seq for m in answers] == [0, 1]
    assert answers[0].header == Header(METER, MeterKind.GAS, Route.A_IOT, 0)
    assert dev.next_seq == 2


def test_reservation_fires_at_its_time_not_before() -> None:
    dev, he = make_pair()
    at = int(T0) + 3600
    events = dev.receive(he.command(ValveAction.OPEN, at, T0), T0)
    reservation = ValveReservation(1, ValveAction.OPEN, at)
    assert events == [ReservationStored(reservation)]
    assert dev.state is ValveState.CLOSED
    assert dev.next_deadline() == at
    up = deliver_up(dev, he, T0)
    assert Acknowledged(1, AckResult.SCHEDULED, False) in up
    assert he.pending() == reservation  # read-back

    assert dev.handle_timeout(at - 0.5) == []
    assert dev.state is ValveState.CLOSED
    events = dev.handle_timeout(at)
    assert events == [
        ReservationFired(reservation),
        ValveChanged(ValveState.CLOSED, ValveState.OPEN, 1),
    ]
    assert dev.pending is None
    assert dev.next_deadline() is None
    deliver_up(dev, he, at)
    assert he.state() == ValveState.OPEN
    assert he.pending() is None


def test_cancel_before_activation_leaves_state_untouched() -> None:
    dev, he = make_pair()
    at = int(T0) + 600
    dev.receive(he.command(ValveAction.OPEN, at, T0), T0)
    deliver_up(dev, he, T0)
    assert he.pending() is not None

    events = dev.receive(he.cancel(1, T0 + 10), T0 + 10)
    assert events == [ReservationCancelled(ValveReservation(1, ValveAction.OPEN, at))]
    assert dev.state is ValveState.CLOSED
    assert dev.pending is None
    up = deliver_up(dev, he, T0 + 10)
    assert Acknowledged(1, AckResult.DONE, True) in up
    assert he.pending() is None  # read-back shows none
    assert dev.handle_timeout(at + 1) == []
    assert dev.state is ValveState.CLOSED


def test_cancel_unknown_id_is_not_found_and_tombstones_the_id() -> None:
    dev, he = make_pair()
    at = int(T0) + 600
    command = he.command(ValveAction.OPEN, at, T0)  # delayed in the network
    cancel = he.cancel(1, T0 + 1)
    assert dev.receive(cancel, T0 + 1) == [Rejected(RejectReason.NOT_FOUND, 1)]
    # The command overtaken by its cancel must never run.
    assert dev.receive(command, T0 + 2) == [Rejected(RejectReason.CANCELLED, 1)]
    assert dev.pending is None
    assert dev.next_deadline() is None


def test_reused_command_id_with_other_content_is_refused() -> None:
    dev, _ = make_pair()
    for seq, action in ((0, ValveAction.OPEN), (1, ValveAction.CLOSE)):
        inner = ValveCommand(Header(METER, MeterKind.GAS, Route.A_IOT, seq), 5, action)
        data = cose.protect_encrypt0(
            frame.encode(inner),
            key=HE_KEY,
            kid=HE_KID,
            common_iv=COMMON_IV,
            seq=seq,
            external_aad=cose.build_external_aad(METER, DOWNLINK_TAG, seq),
        )
        events = dev.receive(data, T0)
    assert events == [Rejected(RejectReason.ID_REUSED, 5)]
    assert dev.state is ValveState.OPEN


def test_cancel_after_firing_is_too_late() -> None:
    dev, he = make_pair()
    at = int(T0) + 60
    dev.receive(he.command(ValveAction.OPEN, at, T0), T0)
    dev.handle_timeout(at)
    assert dev.receive(he.cancel(1, at + 1), at + 1) == [Rejected(RejectReason.TOO_LATE, 1)]
    assert dev.state is ValveState.OPEN


def test_second_reservation_is_refused_busy() -> None:
    dev, he = make_pair()
    dev.receive(he.command(ValveAction.OPEN, int(T0) + 60, T0), T0)
    events = dev.receive(he.command(ValveAction.CLOSE, int(T0) + 90, T0), T0)
    assert events == [Rejected(RejectReason.BUSY, 2)]
    assert dev.pending == ValveReservation(1, ValveAction.OPEN, int(T0) + 60)


def test_activation_time_in_the_past_beyond_tolerance_is_refused() -> None:
    dev, he = make_pair()
    events = dev.receive(he.command(ValveAction.OPEN, int(T0) - 3600, T0), T0)
    assert events == [Rejected(RejectReason.TOO_LATE, 1)]
    assert dev.state is ValveState.CLOSED
    assert Acknowledged(1, AckResult.TOO_LATE, False) in deliver_up(dev, he, T0)
    # Within the tolerance it runs now.
    events = dev.receive(he.command(ValveAction.OPEN, int(T0) - 5, T0), T0)
    assert events == [ValveChanged(ValveState.CLOSED, ValveState.OPEN, 2)]


def test_reservation_timer_run_far_too_late_expires_without_effect() -> None:
    dev, he = make_pair()
    at = int(T0) + 60
    dev.receive(he.command(ValveAction.OPEN, at, T0), T0)
    assert dev.handle_timeout(at + 86_400) == [
        ReservationExpired(ValveReservation(1, ValveAction.OPEN, at))
    ]
    assert dev.state is ValveState.CLOSED
    assert dev.pending is None


def test_replayed_command_changes_nothing() -> None:
    dev, he = make_pair()
    data = he.command(ValveAction.OPEN, None, T0)
    assert dev.receive(data, T0) == [ValveChanged(ValveState.CLOSED, ValveState.OPEN, 1)]
    dev.frames_to_send()
    dev.receive(he.command(ValveAction.CLOSE, None, T0 + 1), T0 + 1)
    dev.frames_to_send()
    assert dev.state is ValveState.CLOSED
    assert dev.receive(data, T0 + 2) == [Rejected(RejectReason.REPLAY)]
    assert dev.state is ValveState.CLOSED
    assert dev.frames_to_send() == []  # no answer to a replay
    assert dev.counters["replay"] == 1


def test_stale_seq_older_than_window_is_rejected() -> None:
    dev, he = make_pair(window=4)
    old = he.command(ValveAction.OPEN, None, T0)  # seq 0, held back
    for _ in range(5):  # seq 1..5 are other traffic that got through
        dev.receive(_status_noise(he), T0)
    assert dev.receive(old, T0) == [Rejected(RejectReason.REPLAY)]
    assert dev.state is ValveState.CLOSED


def _status_noise(he: ValveCommander) -> bytes:
    """An authentic command that changes nothing (close while closed)."""
    return he.command(ValveAction.CLOSE, None, T0)


def test_flipped_bit_or_wrong_key_is_rejected_without_change() -> None:
    dev, he = make_pair()
    data = bytearray(he.command(ValveAction.OPEN, None, T0))
    data[-3] ^= 0x01  # inside the CCM ciphertext/tag
    assert dev.receive(bytes(data), T0) == [Rejected(RejectReason.AUTH_FAILED)]
    _, forger = make_pair(he_key=bytes(16))  # right kid, wrong key
    assert dev.receive(forger.command(ValveAction.OPEN, None, T0), T0) == [
        Rejected(RejectReason.AUTH_FAILED)
    ]
    assert dev.state is ValveState.CLOSED
    assert dev.frames_to_send() == []


def test_frame_for_another_meter_or_direction_is_rejected() -> None:
    dev, he = make_pair()
    other = ValveCommander(
        "JP-GAS-999999",
        MeterKind.GAS,
        keys_by_kid={DEV_KID: DEV_KEY},
        send_kid=HE_KID,
        send_key=HE_KEY,
        common_iv=COMMON_IV,
        state_store=MemoryStateStore(),
    )
    # The meter id is bound in the AAD: it fails authentication here.
    assert dev.receive(other.command(ValveAction.OPEN, None, T0), T0) == [
        Rejected(RejectReason.AUTH_FAILED)
    ]
    # Authentic envelope naming another meter (same AAD meter, forged inner header).
    inner = ValveCommand(Header("JP-GAS-999999", MeterKind.GAS, Route.A_IOT, 7), 9, 1)
    data = cose.protect_encrypt0(
        frame.encode(inner),
        key=HE_KEY,
        kid=HE_KID,
        common_iv=COMMON_IV,
        seq=7,
        external_aad=cose.build_external_aad(METER, DOWNLINK_TAG, 7),
    )
    assert dev.receive(data, T0) == [Rejected(RejectReason.WRONG_METER)]
    # A meter's own answer reflected back never authenticates as a command.
    dev.receive(he.command(ValveAction.CLOSE, None, T0), T0)
    for answer in dev.frames_to_send():
        assert dev.receive(answer, T0) == [Rejected(RejectReason.AUTH_FAILED)]
    assert dev.state is ValveState.CLOSED


def test_envelope_seq_must_match_partial_iv() -> None:
    dev, _ = make_pair()
    inner = ValveCommand(Header(METER, MeterKind.GAS, Route.A_IOT, 5), 1, ValveAction.OPEN)
    data = cose.protect_encrypt0(
        frame.encode(inner),
        key=HE_KEY,
        kid=HE_KID,
        common_iv=COMMON_IV,
        seq=6,
        external_aad=cose.build_external_aad(METER, DOWNLINK_TAG, 6),
    )
    assert dev.receive(data, T0) == [Rejected(RejectReason.SEQ_MISMATCH)]
    assert dev.state is ValveState.CLOSED


def test_retransmission_same_id_is_acked_once_and_applied_once() -> None:
    dev, he = make_pair()
    first = he.command(ValveAction.OPEN, None, T0)
    assert he.next_deadline() == T0 + 10
    assert dev.receive(first, T0) == [ValveChanged(ValveState.CLOSED, ValveState.OPEN, 1)]
    dev.frames_to_send()  # the ack is lost
    assert he.handle_timeout(T0 + 10) == []
    (retry,) = he.frames_to_send()
    assert retry != first
    assert dev.receive(retry, T0 + 10) == [CommandDuplicate(1, AckResult.DONE)]
    assert dev.counters["actuated"] == 1
    answers = dev.frames_to_send()
    assert len(answers) == 1  # the same ack again, no new status
    assert he.receive(answers[0], T0 + 10) == [Acknowledged(1, AckResult.DONE, False)]
    assert he.next_deadline() is None
    assert he.receive(answers[0], T0 + 11) == [Rejected(RejectReason.REPLAY)]


def test_commander_gives_up_after_bounded_attempts() -> None:
    _, he = make_pair()
    he.command(ValveAction.CLOSE, None, T0)
    now = T0
    sent = 1
    events: list[object] = []
    while (deadline := he.next_deadline()) is not None:
        now = deadline
        events.extend(he.handle_timeout(now))
        sent += len(he.frames_to_send())
    assert sent == 3
    assert events == [GaveUp(1, False)]
    assert now == T0 + 10 + 20 + 40  # doubling intervals


def test_commander_rejects_late_ack_and_stale_status() -> None:
    dev, he = make_pair()
    dev.receive(he.command(ValveAction.OPEN, None, T0), T0)
    ack, status = dev.frames_to_send()
    newer = dev.status_frame(T0)
    assert he.receive(ack, T0) == [Acknowledged(1, AckResult.DONE, False)]
    assert he.receive(newer, T0) == [StatusReported(ValveState.OPEN, None)]
    assert he.receive(status, T0) == [Rejected(RejectReason.STALE_STATUS)]


def test_construction_refuses_shared_send_and_receive_keys() -> None:
    with pytest.raises(ValueError, match="sending key"):
        ValveController(
            METER,
            MeterKind.GAS,
            keys_by_kid={HE_KID: HE_KEY},
            send_kid=DEV_KID,
            send_key=HE_KEY,
            common_iv=COMMON_IV,
            state_store=MemoryStateStore(),
        )
    with pytest.raises(ValueError, match="gas or water"):
        ValveCommander(
            METER,
            MeterKind.SPECIAL_PV,
            keys_by_kid={DEV_KID: DEV_KEY},
            send_kid=HE_KID,
            send_key=HE_KEY,
            common_iv=COMMON_IV,
            state_store=MemoryStateStore(),
        )
    _, he = make_pair()
    he.command(ValveAction.OPEN, None, T0)
    with pytest.raises(ValueError, match="not a reservation"):
        he.cancel(1, T0)


def test_unmatched_ack_is_reported() -> None:
    dev, he = make_pair()
    dev.receive(he.command(ValveAction.OPEN, None, T0), T0)
    ack, _status = dev.frames_to_send()
    he.receive(ack, T0)
    he.handle_timeout(T0 + 100)
    # The same ack id again under a fresh meter seq: nothing outstanding any more.
    dev.receive(he.command(ValveAction.OPEN, None, T0), T0)
    dup_ack = ValveAck(Header(METER, MeterKind.GAS, Route.A_IOT, dev.next_seq), 1, 0)
    data = cose.protect_encrypt0(
        frame.encode(dup_ack),
        key=DEV_KEY,
        kid=DEV_KID,
        common_iv=COMMON_IV,
        seq=dev.next_seq,
        external_aad=cose.build_external_aad(METER, "valve/meter->head-end", dev.next_seq),
    )
    assert he.receive(data, T0) == [UnmatchedAck(1, AckResult.DONE)]


# --------------------------------------------------------------------------- properties


def _snapshot(dev: ValveController) -> tuple[ValveState, ValveReservation | None]:
    return dev.state, dev.pending


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=8))
def test_random_bytes_never_change_the_valve(blobs: list[bytes]) -> None:
    dev, _ = make_pair()
    before = _snapshot(dev)
    for blob in blobs:
        events = dev.receive(blob, T0)
        assert len(events) == 1
        assert isinstance(events[0], Rejected)
    assert _snapshot(dev) == before
    assert dev.frames_to_send() == []


@settings(max_examples=300, deadline=None)
@given(
    action=st.sampled_from([ValveAction.OPEN, ValveAction.CLOSE]),
    reserve=st.booleans(),
    mutations=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1),
    tail=st.binary(max_size=4),
)
def test_mutated_frames_never_change_the_valve(
    action: ValveAction, reserve: bool, mutations: list[tuple[int, int]], tail: bytes
) -> None:
    dev, he = make_pair(state=ValveState.OPEN if action is ValveAction.CLOSE else ValveState.CLOSED)
    good = he.command(action, int(T0) + 60 if reserve else None, T0)
    data = bytearray(good)
    for position, xor in mutations:
        data[position % len(data)] ^= xor
    data += tail
    before = _snapshot(dev)
    if bytes(data) != good:
        assert all(isinstance(e, Rejected) for e in dev.receive(bytes(data), T0))
        assert _snapshot(dev) == before
        assert dev.frames_to_send() == []
    # The genuine frame still works afterwards, exactly once.
    assert dev.receive(good, T0) != []
    assert _snapshot(dev) != before
    assert dev.receive(good, T0) == [Rejected(RejectReason.REPLAY)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["open", "close", "reserve", "cancel", "tick", "replay"])))
def test_state_only_follows_valid_fresh_commands(script: list[str]) -> None:
    """Model check: the meter's state equals a model fed only the accepted commands."""
    dev, he = make_pair()
    model = ValveState.CLOSED
    now = T0
    sent: list[bytes] = []
    last_reservation: int | None = None
    for step in script:
        now += 7
        if step in ("open", "close"):
            action = ValveAction.OPEN if step == "open" else ValveAction.CLOSE
            data = he.command(action, None, now)
            sent.append(data)
            dev.receive(data, now)
            model = ValveState.OPEN if step == "open" else ValveState.CLOSED
        elif step == "reserve":
            data = he.command(ValveAction.OPEN, int(now) + 20, now)
            sent.append(data)
            if dev.pending is None:
                last_reservation = he.outstanding()[-1]
            dev.receive(data, now)
        elif step == "cancel" and last_reservation is not None:
            dev.receive(he.cancel(last_reservation, now), now)
        elif step == "replay" and sent:
            assert dev.receive(sent[0], now) == [Rejected(RejectReason.REPLAY)]
        fired = dev.handle_timeout(now)
        if any(isinstance(e, ReservationFired) for e in fired):
            model = ValveState.OPEN
        assert dev.state is model
        dev.frames_to_send()

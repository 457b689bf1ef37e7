"""PANA PaC/PAA state machines driven against each other with the real EAP-PSK.

The message flow is checked against the shape of a real meter's join ([WSUHA] in
test_pana.py: PAR(S) with PRF 5 / Integrity 12, PAR with Nonce + PSK-1, PAR with
PSK-3, PAR(C) with Result-Code, EAP-Success, Key-Id, Session-Lifetime, AUTH).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.auth import EapPskPeer, EapPskServer
from smartmeter_proto.errors import SessionError
from smartmeter_proto.wisun.radio.pana import message as pana
from smartmeter_proto.wisun.radio.pana.message import AvpCode, Flag, ResultCode, TerminationCause
from smartmeter_proto.wisun.radio.pana.session import (
    REAUTH_FRACTION,
    REQ_RETRANSMISSION,
    AgentState,
    AuthenticationFailed,
    ClientState,
    PanaAgent,
    PanaClient,
    PeerUnreachable,
    ReauthenticationStarted,
    SessionEstablished,
    SessionExpired,
    SessionTerminated,
)

# [WSUHA] (see test_pana.py): the meter's PAR(S) and its PAR with Nonce + EAP-PSK message 1
WSUHA_PAR_S = bytes.fromhex(
    "00000028C0000002136F0BFE2FDA83DC00060000000400000000000500030000000400000000000C"
)
WSUHA_PAR_PSK1 = bytes.fromhex(
    "0000006880000002136F0BFE2FDA83DD000500000010000044AA92C21CDBB377DEBBEBC9B755B87D0"
    "00200000038000001E300382F007835A9A40F167C39A7A5AB6ACB3F1070534D30303030303039393032313"
    "73030303030303030303030303031393442464144"
)
PSK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
ID_P = b"0123456789AB"
ID_S = b"SM" + b"0" * 24 + b"0194BFAD"


def _rng(seed: int) -> Callable[[int], bytes]:
    rnd = random.Random(seed)
    return lambda n: bytes(rnd.getrandbits(8) for _ in range(n))


class Link:
    """Carries datagrams between a PaC and a PAA; ``drop`` decides losses; keeps a trace."""

    def __init__(self, psk: bytes = PSK, *, factory: bool = True, seed: int = 1) -> None:
        rb = _rng(seed)
        self.now = 0.0

        def peer() -> EapPskPeer:
            return EapPskPeer(ID_P, psk, random_bytes=rb)

        self.pac = PanaClient(peer if factory else peer(), now=0.0, random_bytes=rb)
        self.paa = PanaAgent(
            lambda: EapPskServer(ID_S, {ID_P: PSK}.get, random_bytes=rb),
            now=0.0,
            random_bytes=rb,
            session_id=0x136F0BFE,
        )
        self.trace: list[tuple[str, pana.PanaMessage]] = []
        self.drop: Callable[[str, bytes], bool] = lambda who, data: False

    def pump(self, until: float | None = None) -> None:
        """Deliver everything queued, firing timers, until quiet (or the clock reaches until)."""
        for _ in range(10_000):
            moved = False
            for sender, receiver, who in ((self.pac, self.paa, "PaC"), (self.paa, self.pac, "PAA")):
                for data in sender.datagrams_to_send():
                    moved = True
                    self.trace.append((who, pana.decode(data)))
                    if not self.drop(who, data):
                        receiver.receive(data, self.now)
            if moved:
                continue
            deadlines = [d for d in (self.pac.next_deadline(), self.paa.next_deadline()) if d]
            if not deadlines or until is None or min(deadlines) > until:
                return
            self.now = max(self.now, min(deadlines))
            self.pac.handle_timeout(self.now)
            self.paa.handle_timeout(self.now)
        raise AssertionError("did not settle")

    def join(self) -> None:
        self.pac.start(self.now)
        self.pump(until=self.now + 600)


def _established(link: Link) -> None:
    link.join()
    assert link.pac.state == ClientState.OPEN
    assert link.paa.state == AgentState.OPEN


def test_full_exchange_matches_the_real_meter_flow() -> None:
    link = Link()
    link.join()
    pac_events, paa_events = link.pac.events(), link.paa.events()
    assert len(pac_events) == len(paa_events) == 1
    ours, theirs = pac_events[0], paa_events[0]
    assert isinstance(ours, SessionEstablished)
    assert ours == theirs
    assert ours.session_id == 0x136F0BFE
    assert ours.lifetime == 86400
    assert link.pac.pana_auth_key == link.paa.pana_auth_key is not None
    assert len(link.pac.pana_auth_key) == 32  # type: ignore[arg-type]
    kinds = [(who, m.name, m.flags & ~Flag.REQUEST) for who, m in link.trace]
    assert kinds == [
        ("PaC", "PCI", 0),
        ("PAA", "PAR", Flag.START),
        ("PaC", "PAN", Flag.START),
        ("PAA", "PAR", 0),  # Nonce + EAP-PSK 1
        ("PaC", "PAN", 0),  # Nonce + EAP-PSK 2
        ("PAA", "PAR", 0),  # EAP-PSK 3
        ("PaC", "PAN", 0),  # EAP-PSK 4
        ("PAA", "PAR", Flag.COMPLETE),
        ("PaC", "PAN", Flag.COMPLETE),
    ]
    msgs = [m for _, m in link.trace]
    assert msgs[2].u32_list(AvpCode.PRF_ALGORITHM) == [5]
    assert msgs[2].u32_list(AvpCode.INTEGRITY_ALGORITHM) == [12]
    assert [a.code for a in msgs[3].avps] == [AvpCode.NONCE, AvpCode.EAP_PAYLOAD]
    assert msgs[4].find(AvpCode.NONCE) is not None
    assert [a.code for a in msgs[7].avps] == [7, 2, 4, 8, 1]  # as in the [WSUHA] PAR(C)
    assert [a.code for a in msgs[8].avps] == [AvpCode.KEY_ID, AvpCode.AUTH]
    par_seqs = [m.sequence for m in msgs[1::2]]
    assert par_seqs == [(par_seqs[0] + i) & 0xFFFFFFFF for i in range(4)]
    assert [m.sequence for m in msgs[2::2]] == par_seqs  # answers echo the request
    assert msgs[0].session_id == msgs[0].sequence == 0
    assert {m.session_id for m in msgs[1:]} == {0x136F0BFE}
    assert link.pac.dropped == link.paa.dropped == 0


def test_wrong_psk_fails_on_both_sides_at_message_2() -> None:
    link = Link(psk=bytes(16))
    link.join()
    (pac_event,) = link.pac.events()
    (paa_event,) = link.paa.events()
    assert paa_event == AuthenticationFailed(
        ResultCode.PANA_AUTHENTICATION_REJECTED, "MAC_P does not verify"
    )
    assert isinstance(pac_event, AuthenticationFailed)
    assert pac_event.result_code == ResultCode.PANA_AUTHENTICATION_REJECTED
    assert "EAP-Failure" in pac_event.reason
    assert "message 2" in pac_event.reason
    assert link.pac.state == ClientState.FAILED
    assert link.paa.state == AgentState.FAILED
    final = link.trace[-2][1]
    assert final.has(Flag.COMPLETE)
    assert final.find(AvpCode.AUTH) is None
    assert (final.bytes_of(AvpCode.EAP_PAYLOAD) or b"")[0] == 4  # EAP-Failure
    assert link.pac.pana_auth_key is None
    assert link.paa.pana_auth_key is None


@pytest.mark.parametrize("victim", range(9))
def test_each_lost_datagram_is_recovered(victim: int) -> None:
    link = Link()
    sent = [0]

    def drop(who: str, data: bytes) -> bool:
        sent[0] += 1
        return sent[0] == victim + 1

    link.drop = drop
    link.join()
    assert link.pac.state == ClientState.OPEN
    assert link.paa.state == AgentState.OPEN
    assert link.pac.pana_auth_key == link.paa.pana_auth_key
    assert link.now >= REQ_RETRANSMISSION.irt * 0.9  # a timer had to fire


def test_random_loss_still_establishes() -> None:
    for seed in range(5):
        link = Link(seed=seed)
        loss = random.Random(seed)
        link.drop = lambda who, data: loss.random() < 0.3
        link.join()
        assert link.pac.state == ClientState.OPEN, seed
        assert link.pac.pana_auth_key == link.paa.pana_auth_key


def test_reauthentication_keeps_session_and_changes_key() -> None:
    link = Link()
    _established(link)
    first = link.pac.events()[0]
    link.paa.events()
    key, key_id = link.pac.pana_auth_key, link.pac.key_id
    link.trace.clear()
    link.pac.reauthenticate(link.now)
    assert link.pac.state == ClientState.REAUTHENTICATING
    link.pump()
    pac_events, paa_events = link.pac.events(), link.paa.events()
    assert pac_events[0] == paa_events[0] == ReauthenticationStarted()
    assert isinstance(pac_events[1], SessionEstablished)
    assert pac_events[1] == paa_events[1]
    assert pac_events[1].session_id == first.session_id  # type: ignore[union-attr]
    assert link.pac.key_id != key_id
    assert link.pac.pana_auth_key != key
    assert link.pac.pana_auth_key == link.paa.pana_auth_key
    names = [(m.name, m.flags & ~Flag.REQUEST) for _, m in link.trace]
    assert names[:2] == [("PNR", Flag.REAUTH), ("PNA", Flag.REAUTH)]
    assert all(m.find(AvpCode.AUTH) is not None for _, m in link.trace)
    assert link.pac.dropped == link.paa.dropped == 0


def test_pac_reauthenticates_before_the_lifetime_ends() -> None:
    link = Link()
    _established(link)
    link.pac.events()
    start, key = link.now, link.pac.pana_auth_key
    link.pump(until=start + 86400 * 2)
    events = link.pac.events()
    assert ReauthenticationStarted() in events
    assert SessionExpired() not in events
    assert link.pac.state == ClientState.OPEN
    assert link.pac.pana_auth_key != key
    reauths = [t for t in link.trace if t[1].has(Flag.REAUTH) and t[0] == "PaC"]
    assert reauths


def test_reauthentication_needs_a_factory() -> None:
    link = Link(factory=False)
    _established(link)
    with pytest.raises(SessionError):
        link.pac.reauthenticate(link.now)
    assert link.pac.next_deadline() == pytest.approx(link.now + 86400)  # expiry only


def test_paa_session_expires_without_reauthentication() -> None:
    link = Link(factory=False)
    _established(link)
    link.pump(until=link.now + 86400 + 1)
    assert SessionExpired() in link.paa.events()
    assert SessionExpired() in link.pac.events()
    assert link.paa.state == AgentState.CLOSED
    assert link.paa.pana_auth_key is None


def test_termination_by_pac() -> None:
    link = Link()
    _established(link)
    link.pac.terminate(link.now)
    link.pump()
    assert link.pac.events()[-1] == SessionTerminated(TerminationCause.LOGOUT)
    assert link.paa.events()[-1] == SessionTerminated(TerminationCause.LOGOUT)
    assert link.pac.state == ClientState.CLOSED
    assert link.paa.state == AgentState.CLOSED
    ptr = link.trace[-2][1]
    assert ptr.name == "PTR"
    assert ptr.u32(AvpCode.TERMINATION_CAUSE) == TerminationCause.LOGOUT
    assert link.pac.next_deadline() is None


def test_termination_by_paa() -> None:
    link = Link()
    _established(link)
    link.paa.terminate(link.now)
    link.pump()
    assert link.pac.events()[-1] == SessionTerminated(TerminationCause.ADMINISTRATIVE)
    assert link.paa.events()[-1] == SessionTerminated(TerminationCause.ADMINISTRATIVE)


def test_ping_both_ways() -> None:
    link = Link()
    _established(link)
    link.trace.clear()
    link.pac.ping(link.now)
    link.pump()
    link.paa.ping(link.now)
    link.pump()
    assert [(m.name, m.has(Flag.PING)) for _, m in link.trace] == [
        ("PNR", True),
        ("PNA", True),
        ("PNR", True),
        ("PNA", True),
    ]
    assert link.pac.next_deadline() is not None
    assert link.pac.dropped == 0


def test_bit_flip_in_any_post_auth_message_is_dropped() -> None:
    link = Link()
    _established(link)
    link.pac.ping(link.now)
    (pnr,) = link.pac.datagrams_to_send()
    for bit in range(len(pnr) * 8):
        flipped = bytearray(pnr)
        flipped[bit // 8] ^= 1 << (bit % 8)
        before = link.paa.dropped
        link.paa.receive(bytes(flipped), link.now)
        assert link.paa.dropped == before + 1, bit
        assert link.paa.datagrams_to_send() == []
    link.paa.receive(pnr, link.now)
    (pna,) = link.paa.datagrams_to_send()
    for bit in range(0, len(pna) * 8, 3):
        flipped = bytearray(pna)
        flipped[bit // 8] ^= 1 << (bit % 8)
        before = link.pac.dropped
        link.pac.receive(bytes(flipped), link.now)
        assert link.pac.dropped == before + 1
    link.pac.receive(pna, link.now)
    assert link.pac.dropped == 8 * len(pna) // 3 + (1 if len(pna) * 8 % 3 else 0)
    # the session keeps working: re-authentication and termination still go through
    link.pac.reauthenticate(link.now)
    link.pump()
    assert link.pac.state == ClientState.OPEN
    assert link.paa.state == AgentState.OPEN


def test_unsigned_and_stale_messages_are_dropped_after_auth() -> None:
    link = Link()
    _established(link)
    sid = link.pac.session_id
    unsigned = pana.encode(pana.PanaMessage(Flag.REQUEST | Flag.PING, 4, sid, 1))
    link.paa.receive(unsigned, link.now)
    link.pac.receive(unsigned, link.now)
    par_s = next(m for who, m in link.trace if m.has(Flag.START) and who == "PAA")
    link.pac.receive(pana.encode(par_s), link.now)  # an old PAR(S) replayed
    assert link.paa.dropped == 1
    assert link.pac.dropped == 2
    assert link.paa.datagrams_to_send() == []
    assert link.pac.datagrams_to_send() == []


def test_retransmitted_request_gets_the_cached_answer() -> None:
    link = Link()
    _established(link)
    link.pac.ping(link.now)
    (pnr,) = link.pac.datagrams_to_send()
    link.paa.receive(pnr, link.now)
    link.paa.receive(pnr, link.now)
    first, second = link.paa.datagrams_to_send()
    assert first == second
    assert link.paa.dropped == 0


def test_peer_unreachable_after_req_mrc_retransmissions() -> None:
    link = Link()
    _established(link)
    link.pac.events()
    link.pac.ping(link.now)
    start = link.now
    sent = len(link.pac.datagrams_to_send())
    times = []
    while (deadline := link.pac.next_deadline()) is not None and deadline < start + 3600:
        link.pac.handle_timeout(deadline)
        sent += len(link.pac.datagrams_to_send())
        times.append(deadline - start)
    assert sent == 1 + REQ_RETRANSMISSION.mrc
    assert link.pac.events() == [PeerUnreachable()]
    assert link.pac.state == ClientState.CLOSED
    assert link.pac.pana_auth_key is None
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert 0.9 <= gaps[0] <= 1.1  # REQ_IRT with RAND in [-0.1, 0.1]
    assert all(g <= REQ_RETRANSMISSION.mrt * 1.1 for g in gaps)
    assert gaps[-1] >= REQ_RETRANSMISSION.mrt * 0.9  # backed off up to REQ_MRT


def _pcis_until(pac: PanaClient, horizon: float) -> list[bytes]:
    """Start the PaC with no PAA listening; every PCI it sends before ``horizon`` seconds."""
    pac.start(0.0)
    sent = pac.datagrams_to_send()
    while (deadline := pac.next_deadline()) is not None and deadline < horizon:
        pac.handle_timeout(deadline)
        sent += pac.datagrams_to_send()
    return sent


def test_pci_is_retransmitted_without_limit_by_default() -> None:
    # RFC 5191 section 9: PCI_MRC 0, so the PaC keeps trying every PCI_MRT (120 s) at most
    pac = PanaClient(lambda: EapPskPeer(ID_P, PSK), now=0.0, random_bytes=_rng(3))
    sent = _pcis_until(pac, 3600.0)
    assert len(sent) > 30  # 1 s doubling up to ~120 s: 7 to reach MRT, then ~27 more in an hour
    assert len(set(sent)) == 1
    assert pana.decode(sent[0]).name == "PCI"
    assert pac.events() == []
    assert pac.state == ClientState.INITIATING
    assert pac.next_deadline() is not None


@pytest.mark.parametrize("limit", [1, 3])
def test_pci_max_retransmissions_gives_up(limit: int) -> None:
    pac = PanaClient(
        lambda: EapPskPeer(ID_P, PSK),
        now=0.0,
        random_bytes=_rng(3),
        pci_max_retransmissions=limit,
    )
    sent = _pcis_until(pac, 3600.0)
    assert len(sent) == 1 + limit
    assert pac.events() == [PeerUnreachable()]
    assert pac.state == ClientState.FAILED
    assert pac.next_deadline() is None


@pytest.mark.parametrize("limit", [0, -1])
def test_pci_max_retransmissions_must_be_positive(limit: int) -> None:
    with pytest.raises(ValueError, match="pci_max_retransmissions"):
        PanaClient(lambda: EapPskPeer(ID_P, PSK), now=0.0, pci_max_retransmissions=limit)


def test_pci_limit_does_not_change_the_join() -> None:
    link = Link()
    link.pac = PanaClient(
        lambda: EapPskPeer(ID_P, PSK, random_bytes=_rng(5)),
        now=0.0,
        random_bytes=_rng(5),
        pci_max_retransmissions=2,
    )
    link.drop = lambda who, data: (
        who == "PaC"
        and pana.decode(data).name == "PCI"
        and (sum(1 for w, m in link.trace if w == "PaC" and m.name == "PCI") <= 2)
    )  # the first two PCIs are lost, the second retransmission gets through
    _established(link)
    assert sum(1 for w, m in link.trace if w == "PaC" and m.name == "PCI") == 3


def test_oversized_datagram_is_refused() -> None:
    link = Link()
    link.pac.start(0.0)
    (pci,) = link.pac.datagrams_to_send()
    link.paa.receive(pci + bytes(2000), 0.0)
    assert link.paa.dropped == 1
    assert link.paa.state == AgentState.IDLE


def test_api_misuse_raises_session_error() -> None:
    link = Link()
    with pytest.raises(SessionError):
        link.pac.ping(0.0)
    with pytest.raises(SessionError):
        link.pac.terminate(0.0)
    link.pac.start(0.0)
    with pytest.raises(SessionError):
        link.pac.start(0.0)


def test_repr_masks_keys() -> None:
    link = Link()
    _established(link)
    key = link.pac.pana_auth_key
    assert key is not None
    for obj in (link.pac, link.paa):
        text = repr(obj)
        assert key.reveal().hex() not in text
        assert "MaskedKey(<32 bytes>)" in text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=8), st.integers(0, 3))
def test_garbage_never_raises(datagrams: list[bytes], phase: int) -> None:
    link = Link()
    link.pac.start(0.0)
    link.pump(until=0.0)
    if phase >= 1:
        link.pump(until=60.0)
    if phase >= 2:
        link.pac.ping(link.now)
    for data in datagrams:
        for endpoint in (link.pac, link.paa):
            endpoint.receive(data, link.now)
    link.pump(until=link.now + 100)
    if phase >= 1:
        assert link.pac.pana_auth_key == link.paa.pana_auth_key is not None


def test_pac_accepts_meter_par_start() -> None:
    """The real [WSUHA] PAR(S) gets a PAN(S) choosing PRF 5 / Integrity 12."""
    pac = PanaClient(lambda: EapPskPeer(ID_P, PSK), now=0.0)
    pac.start(0.0)
    pac.datagrams_to_send()
    pac.receive(WSUHA_PAR_S, 0.1)
    (pan,) = pac.datagrams_to_send()
    msg = pana.decode(pan)
    assert msg.name == "PAN"
    assert msg.has(Flag.START)
    assert (msg.session_id, msg.sequence) == (0x136F0BFE, 0x2FDA83DC)
    assert msg.u32_list(AvpCode.PRF_ALGORITHM) == [5]
    assert msg.u32_list(AvpCode.INTEGRITY_ALGORITHM) == [12]
    pac.receive(WSUHA_PAR_PSK1, 0.2)  # Nonce + PSK-1 from the real meter
    (pan2,) = pac.datagrams_to_send()
    answer = pana.decode(pan2)
    assert answer.sequence == 0x2FDA83DD
    assert len(answer.bytes_of(AvpCode.NONCE) or b"") == 16
    eap = answer.bytes_of(AvpCode.EAP_PAYLOAD) or b""
    assert eap[0] == 2
    assert eap[1] == 0xE3
    assert eap[5] == 0x40
    assert pac.state == ClientState.AUTHENTICATING
    assert pac.dropped == 0
    assert REAUTH_FRACTION < 1


def test_paa_initiated_reauthentication() -> None:
    link = Link()
    _established(link)
    link.pac.events()
    link.paa.events()
    key_id = link.paa.key_id
    link.paa.reauthenticate(link.now)
    link.pump()
    pac_events = link.pac.events()
    assert pac_events[0] == ReauthenticationStarted()
    assert isinstance(pac_events[-1], SessionEstablished)
    assert pac_events[-1] == link.paa.events()[-1]
    assert link.pac.key_id == link.paa.key_id != key_id
    assert link.pac.pana_auth_key == link.paa.pana_auth_key


def test_pci_carries_no_request_flag() -> None:
    """IANA PANA registry (RFC 5191 §7): PCI's R flag is 0; tshark interop caught us setting it."""
    from smartmeter_proto.auth.eap_psk import EapPskPeer
    from smartmeter_proto.wisun.radio.pana import message as pana_codec
    from smartmeter_proto.wisun.radio.pana.session import PanaClient

    client = PanaClient(lambda: EapPskPeer(b"id", bytes(16)), now=0.0)
    client.start(0.0)
    (pci,) = client.datagrams_to_send()
    msg = pana_codec.decode(pci)
    assert (msg.message_type, msg.flags, msg.name) == (1, 0, "PCI")

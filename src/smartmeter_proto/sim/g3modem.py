"""Simulated G3-PLC modem on the B-route PLC method, with a simulated smart meter behind it.

:class:`G3ModemEmulator` answers a HEMS host as a Microchip PL360/PL460 modem running the
"G3 ADP serialized" firmware (Harmony flavour) does: USI frames of protocol 0x25
(:mod:`smartmeter_proto.plc.usi`, :mod:`smartmeter_proto.plc.g3adp`). Behind it sits the
meter: PAN coordinator (short address 0), LBP server with its own EAP-PSK credentials,
and an ECHONET Lite node on UDP 3610. Joining runs a real LBP/EAP-PSK exchange
(:mod:`smartmeter_proto.plc.lbp`, :mod:`smartmeter_proto.auth.eap_psk`): the host's
PSK and ID_P meet the meter's only inside EAP-PSK, and neither is ever shown.

Sans-IO, same surface as :class:`~smartmeter_proto.sim.dongle.DongleEmulator` (so
:class:`~smartmeter_proto.transport.pty_server.DonglePty` can serve it on a pty).
Firmware behaviour follows smartenergy_g3 ``adp_serial.c`` (62d63090: command byte
masked with 0x7F, STATUS after INITIALIZE and after any refused or unknown command,
NOT_ALLOWED before INITIALIZE or for a coordinator) and ``lbp_dev.c`` (DECLINE gives
join status NOT_PERMITED, the join timer gives TIMEOUT). Timing and the statuses no
source gives are named constants marked *synthetic*.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from ..echonet.events import Address
from ..echonet.node import Node
from ..errors import DecodeError
from ..plc import g3adp as adp
from ..plc import lbp
from ..plc.usi import UsiFrame, UsiParser, UsiProtocol, decode_frame
from ..wisun.radio.lowpan import ALL_NODES, parse_ipv6_udp
from .dongle import Fault, FaultPlan
from .g3lbd import EUI64_LEN, UNASSIGNED, JoinResult, Lbd, LbdJoin
from .g3meter import (
    ARIB_TEST_ID_S,
    COORDINATOR_SHORT_ADDRESS,
    ECHONET_PORT,
    MAX_ID_P,
    METER_PAN_ID,
    PSK_LEN,
    G3Meter,
    Secret,
    g3_link_local,
)
from .meter import SimulatedMeter, meter_node

__all__ = [
    "ARIB_TEST_ID_S",
    "COORDINATOR_SHORT_ADDRESS",
    "ECHONET_PORT",
    "METER_PAN_ID",
    "MODEL",
    "G3Fault",
    "G3ModemEmulator",
    "g3_link_local",
    "make_g3modem",
]

MODEL: Final = "g3-usi"
_MEDIA_TYPE_PLC: Final = 0  # DISCOVERY_IND media type of a PLC-only PAN (synthetic)

# Timing: no source gives these for a PL360/PL460 modem on a B-route meter (synthetic).
PLC_LATENCY_S: Final = 0.1  # one LBP or data frame over the power line, incl. MAC ack
DISCOVERY_BEACON_DELAY_S: Final = 0.5  # the meter's beacon arrives this long into a scan
JOIN_TIMEOUT_S: Final = 20.0  # join timer (Harmony arms it from adpMaxJoinWaitTime)
_LQI_RANGE: Final = (0x60, 0xC0)
_ROUTE_COST_TO_COORD: Final = 0  # the meter itself answers: no hop to the coordinator
# Statuses for cases no source shows (synthetic choices).
_NOT_JOINED: Final = adp.AdpStatus.INVALID_REQUEST  # data/leave/join in the wrong state
_NO_ROUTE: Final = adp.AdpStatus.ROUTE_ERROR  # destination is not the meter
_NO_ACK: Final = adp.AdpStatus.TIMEOUT  # the meter is silent: no MAC acknowledgement
_MAX_STEPS: Final = 100_000

_Rng = random.Random  # seeded simulation randomness: addresses, LQI, EAP nonces


class G3Fault(StrEnum):
    """What :meth:`G3ModemEmulator.inject` can do."""

    JOIN_FAILURE = "join_failure"  # the meter declines the next join
    DROP_FRAME = "drop_frame"  # the next frame to the host is lost (match= ADP command id)
    GARBLE_FRAME = "garble_frame"  # the next frame is corrupted (mode="truncate" cuts it)
    SILENT_METER = "silent_meter"  # nothing comes from the meter for seconds=
    LEAVE_INDICATION = "leave_indication"  # the meter kicks the device out of the PAN
    DISCONNECT = "disconnect"  # the serial link goes quiet for good


_FAULT_PARAMS: Final[dict[G3Fault, frozenset[str]]] = {fault: frozenset() for fault in G3Fault} | {
    G3Fault.DROP_FRAME: frozenset({"match"}),
    G3Fault.GARBLE_FRAME: frozenset({"match", "mode"}),
    G3Fault.SILENT_METER: frozenset({"seconds"}),
}


@dataclass(slots=True)
class _Discovery:
    heard: bool = False


_Timer = tuple[float, int, Callable[[float], None]]


class G3ModemEmulator:
    """A Microchip-USI G3 modem (device role) with a simulated meter behind it (sans-IO).

    ``pan_id`` is the meter's PAN, ``meter_address`` its link-local IPv6 address and
    ``extended_address`` the modem's EUI-64; ``short_address`` is set once joined.
    """

    model: str

    def __init__(
        self,
        *,
        psk: bytes,
        id_p: bytes,
        node: Node | None = None,
        now: float,
        seed: int = 1,
        pan_id: int = METER_PAN_ID,
        id_s: bytes = ARIB_TEST_ID_S,
    ) -> None:
        if len(psk) != PSK_LEN or not 1 <= len(id_p) <= MAX_ID_P:
            raise ValueError(f"the meter's PSK is {PSK_LEN} bytes and ID_P 1..{MAX_ID_P}")
        self.model = MODEL
        self._rng = _Rng(seed)
        self.extended_address = self._rng.randbytes(EUI64_LEN)
        self.link_quality = self._rng.randint(*_LQI_RANGE)
        node = node if node is not None else meter_node(SimulatedMeter(), now=now)
        self.faults = FaultPlan(self._rng)
        self._meter = G3Meter(self._rng, node, psk=psk, id_p=id_p, id_s=id_s, pan_id=pan_id)
        self._parser = UsiParser()
        self._now = now
        self._timers: list[_Timer] = []
        self._seq = 0
        self._out = bytearray()
        self._disconnected = False
        self._initialized = False
        self._band: adp.Band | int | None = None
        self._coordinator = False
        self._lbd = Lbd()  # the host's PSK/ID_P and the join in progress
        self._generation = 0  # bumps on reset/initialize: stale leave confirms are dropped
        self._discovery: _Discovery | None = None
        self.short_address: int | None = None
        #: Host frames dropped by the USI parser (garbage, bad CRC) or for another protocol.
        self.frames_dropped = 0

    # ------------------------------------------------------------------ public API
    @property
    def pan_id(self) -> int:
        """The meter's PAN ID."""
        return self._meter.pan_id

    @property
    def meter_address(self) -> bytes:
        """The meter's link-local IPv6 address."""
        return self._meter.address

    @property
    def node(self) -> Node:
        """The ECHONET Lite node behind the meter's UDP port 3610."""
        return self._meter.node

    @property
    def joined(self) -> bool:
        """Whether the modem is joined to the meter's PAN."""
        return self.short_address is not None

    @property
    def disconnected(self) -> bool:
        """The serial link went quiet (fault ``disconnect``): the adapter should close."""
        return self._disconnected

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the host (the serial line), in any chunking."""
        self._advance(now)
        if self._disconnected or not data:
            return
        for item in self._parser.feed(bytes(data)):
            if isinstance(item, DecodeError) or item.protocol != UsiProtocol.ADP_G3:
                self.frames_dropped += 1
            else:
                self._on_request(item.data, now)

    def data_to_send(self) -> bytes:
        """Bytes for the host; the queue is emptied."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must run next (timers and the meter's schedule)."""
        if self._disconnected:
            return None
        candidates = [self._timers[0][0]] if self._timers else []
        node_at = self._meter.next_deadline()
        if node_at is not None:
            candidates.append(node_at)
        return min(candidates, default=None)

    def handle_timeout(self, now: float) -> None:
        """Run everything due at ``now``."""
        self._advance(now)

    def inject(self, fault: str, **params: Any) -> None:
        """Apply a fault (see :class:`G3Fault`) from the last ``now`` seen.

        ``drop_frame``/``garble_frame`` take ``match`` (an ADP command id, e.g.
        ``adp.AdpCommand.DATA_INDICATION``) and ``garble_frame`` ``mode`` ("corrupt" or
        "truncate"); ``silent_meter`` takes ``seconds`` (default 60).
        """
        kind = G3Fault(fault)
        allowed = _FAULT_PARAMS[kind]
        if not set(params) <= allowed:
            raise TypeError(f"{kind.value} takes {sorted(allowed) or 'no parameters'}")
        if kind in (G3Fault.DROP_FRAME, G3Fault.GARBLE_FRAME):
            line_fault = Fault.DROP_LINE if kind is G3Fault.DROP_FRAME else Fault.GARBLE_LINE
            match = params.get("match")
            matcher = _any_frame if match is None else _command_matcher(int(match))
            self.faults.add_output_fault(line_fault, matcher, str(params.get("mode", "corrupt")))
        elif kind is G3Fault.SILENT_METER:
            seconds = float(params.get("seconds", 60.0))
            if seconds < 0:
                raise ValueError("silent_meter seconds must not be negative")
            self.faults.silent_until = max(self.faults.silent_until, self._now + seconds)
        elif kind is G3Fault.JOIN_FAILURE:
            self.faults.join_failures += 1
        elif kind is G3Fault.LEAVE_INDICATION:
            kick = self._meter.kick(self.extended_address)
            if kick is not None:
                self._at(self._now + PLC_LATENCY_S, lambda t: self._from_meter_lbp(kick, t))
        else:
            self._disconnected = True
            self._timers.clear()
            self._out.clear()

    def __repr__(self) -> str:
        short = "-" if self.short_address is None else f"0x{self.short_address:04X}"
        return (
            f"G3ModemEmulator(model={self.model!r}, pan_id=0x{self.pan_id:04X}, "
            f"initialized={self._initialized}, short_address={short})"
        )

    # ------------------------------------------------------------------ host side
    def _emit(self, message: adp.AdpMessage) -> None:
        """Queue one ADP message for the host as a USI frame, through the output faults."""
        if self._disconnected:
            return
        frame = UsiFrame(UsiProtocol.ADP_G3, message.encode()).encode()
        inner = self.faults.apply(frame[1:-1], len(frame) - 2)  # garble inside the delimiters
        if inner is not None:
            self._out += frame[:1] + inner + frame[-1:]

    def _on_request(self, data: bytes, now: float) -> None:
        if not data:  # adp_serial.c: "Protection for invalid length"
            return
        command = data[0] & 0x7F  # adp_serial.c masks the command with 0x7F
        handler = _HANDLERS.get(command)
        request = _command(command)
        if handler is None:
            self._emit(adp.Status(adp.SerialStatus.UNKNOWN_COMMAND, request))
            return
        try:
            message = adp.decode_adp(bytes((command,)) + data[1:])
        except DecodeError:
            self._emit(adp.Status(adp.SerialStatus.INVALID_PARAMETER, request))
            return
        status = handler(self, message, now)
        if status is not adp.SerialStatus.SUCCESS or command == adp.AdpCommand.INITIALIZE:
            self._emit(adp.Status(status, request))

    def _answer(self, message: adp.AdpMessage) -> adp.SerialStatus:
        """Emit the request's confirm; the request itself was accepted (no STATUS)."""
        self._emit(message)
        return adp.SerialStatus.SUCCESS

    @property
    def _psk(self) -> Secret | None:  # the PSK the host set for joining
        return self._lbd.psk

    def _refused(self, *, device_only: bool = False) -> bool:
        return not self._initialized or (device_only and self._coordinator)

    def _on_initialize(self, msg: adp.Initialize, now: float) -> adp.SerialStatus:
        self._band, self._coordinator = msg.band, bool(msg.is_coordinator)
        self._drop_network()
        self._initialized = True
        return adp.SerialStatus.SUCCESS

    def _on_lbp_set(self, msg: adp.LbpSetRequest, now: float) -> adp.SerialStatus:
        status = self._lbd.lbp_set(msg.attribute_id, msg.value)
        return self._answer(adp.LbpSetConfirm(status, msg.attribute_id, msg.attribute_index))

    def _on_set(self, msg: adp.SetRequest, now: float) -> adp.SerialStatus:
        if self._refused():
            return adp.SerialStatus.NOT_ALLOWED
        attribute, value = msg.attribute_id, msg.value
        status = self._lbd.legacy_set(attribute, value)  # PSK/ID_P by their ASF attribute ids
        if status is None:
            status = adp.AdpStatus.SUCCESS
            if attribute == adp.AdpAttribute.MANUF_EXTENDED_ADDRESS:
                self.extended_address = value
        return self._answer(adp.SetConfirm(status, attribute, msg.attribute_index))

    def _on_get(self, msg: adp.GetRequest, now: float) -> adp.SerialStatus:
        if self._refused():
            return adp.SerialStatus.NOT_ALLOWED
        short = UNASSIGNED if self.short_address is None else self.short_address
        pan = UNASSIGNED if self.short_address is None else self.pan_id
        values: dict[int, bytes] = {
            adp.AdpAttribute.MANUF_EXTENDED_ADDRESS: self.extended_address,
            adp.AdpAttribute.MANUF_SHORT_ADDRESS: short.to_bytes(2, "big"),
            adp.AdpAttribute.MANUF_PAN_ID: pan.to_bytes(2, "big"),
            adp.AdpAttribute.COORD_SHORT_ADDRESS: COORDINATOR_SHORT_ADDRESS.to_bytes(2, "big"),
        }
        value = values.get(msg.attribute_id)
        ok = adp.AdpStatus.SUCCESS if value is not None else adp.AdpStatus.UNSUPPORTED_ATTRIBUTE
        return self._answer(adp.GetConfirm(ok, msg.attribute_id, msg.attribute_index, value or b""))

    def _on_discovery(self, msg: adp.DiscoveryRequest, now: float) -> adp.SerialStatus:
        if self._refused():
            return adp.SerialStatus.NOT_ALLOWED
        scan = self._discovery = _Discovery()
        end = now + msg.duration_s

        def beacon(t: float) -> None:
            if scan is self._discovery and self._band == adp.Band.ARIB and not self._silent(t):
                scan.heard = True
                self._emit(
                    adp.DiscoveryIndication(
                        self.pan_id,
                        self.link_quality,
                        COORDINATOR_SHORT_ADDRESS,
                        _ROUTE_COST_TO_COORD,
                        _MEDIA_TYPE_PLC,
                    )
                )

        def done(t: float) -> None:
            if scan is self._discovery:
                self._discovery = None
                heard = adp.AdpStatus.SUCCESS if scan.heard else adp.AdpStatus.NO_BEACON
                self._emit(adp.DiscoveryConfirm(heard))

        if now + DISCOVERY_BEACON_DELAY_S <= end:
            self._at(now + DISCOVERY_BEACON_DELAY_S, beacon)
        self._at(end, done)
        return adp.SerialStatus.SUCCESS

    def _on_join(self, msg: adp.NetworkJoinRequest, now: float) -> adp.SerialStatus:
        if self._refused(device_only=True):
            return adp.SerialStatus.NOT_ALLOWED
        nonces = self._rng.randbytes
        join = None if self.joined else self._lbd.start_join(msg.pan_id, msg.lba_address, nonces)
        if join is None:
            return self._answer(adp.NetworkJoinConfirm(_NOT_JOINED, UNASSIGNED, msg.pan_id))
        self._send_lbp(LbdJoin.joining(self.extended_address), now)

        def expire(t: float) -> None:
            if self._lbd.join is join:
                self._finish_join(JoinResult(adp.AdpStatus.TIMEOUT))

        self._at(now + JOIN_TIMEOUT_S, expire)
        return adp.SerialStatus.SUCCESS

    def _on_leave(self, msg: adp.LeaveRequest, now: float) -> adp.SerialStatus:
        if self._refused(device_only=True):
            return adp.SerialStatus.NOT_ALLOWED
        if not self.joined:
            return self._answer(adp.LeaveConfirm(_NOT_JOINED))
        self._send_lbp(lbp.LbpMessage(lbp.LbpMessageType.KICK_FROM_LBD, self.extended_address), now)
        self.short_address = None
        generation = self._generation

        def confirm(t: float) -> None:
            if generation == self._generation:
                self._emit(adp.LeaveConfirm(adp.AdpStatus.SUCCESS))

        self._at(now + PLC_LATENCY_S, confirm)
        return adp.SerialStatus.SUCCESS

    def _on_reset(self, msg: adp.ResetRequest, now: float) -> adp.SerialStatus:
        if self._refused():
            return adp.SerialStatus.NOT_ALLOWED
        self._drop_network()
        return self._answer(adp.ResetConfirm(adp.AdpStatus.SUCCESS))

    def _on_data(self, msg: adp.DataRequest, now: float) -> adp.SerialStatus:
        if self._refused():
            return adp.SerialStatus.NOT_ALLOWED
        handle = msg.nsdu_handle
        if not self.joined:
            return self._answer(adp.DataConfirm(_NOT_JOINED, handle))
        try:
            header, src_port, dst_port, payload = parse_ipv6_udp(msg.ipv6_packet)
        except DecodeError:
            return self._answer(adp.DataConfirm(adp.AdpStatus.INVALID_IPV6_FRAME, handle))
        if header.dst not in (self.meter_address, ALL_NODES):
            return self._answer(adp.DataConfirm(_NO_ROUTE, handle))
        if self._silent(now):
            self._at(now + PLC_LATENCY_S, lambda t: self._emit(adp.DataConfirm(_NO_ACK, handle)))
            return adp.SerialStatus.SUCCESS
        source: Address = (header.src, src_port)

        def arrive(t: float) -> None:
            self._emit(adp.DataConfirm(adp.AdpStatus.SUCCESS, handle))
            sent = self._meter.receive_datagram(payload, source, dst_port, t)
            self._from_meter_node(sent, t, PLC_LATENCY_S)

        self._at(now + PLC_LATENCY_S, arrive)
        return adp.SerialStatus.SUCCESS

    def _drop_network(self) -> None:
        self._generation += 1
        self._lbd.join = None
        self._discovery = None
        self.short_address = None  # the meter is not told (as after a real modem reset)

    # ------------------------------------------------------------------ the PLC link
    def _silent(self, now: float) -> bool:
        return now < self.faults.silent_until

    def _send_lbp(self, message: lbp.LbpMessage, now: float) -> None:
        """An LBP frame to the meter; its answer comes back one latency later."""
        if not self._lbd.reaches(self.pan_id, COORDINATOR_SHORT_ADDRESS):
            return  # no such PAN or agent on the line: the join timer will expire
        wire = message.encode()

        def at_meter(t: float) -> None:
            if self._silent(t):
                return
            answer = self._meter.receive_lbp(wire, self.faults.take_join_failure)
            if answer is not None:
                self._at(t + PLC_LATENCY_S, lambda t2: self._from_meter_lbp(answer, t2))

        self._at(now + PLC_LATENCY_S, at_meter)

    def _from_meter_lbp(self, message: lbp.LbpMessage, now: float) -> None:
        if self._silent(now) or message.lbd_address != self.extended_address:
            return
        if message.message_type == lbp.LbpMessageType.KICK_TO_LBD:
            if self.joined:
                self._drop_network()
                self._emit(adp.LeaveIndication())
            return
        step = self._lbd.receive(message, self.extended_address)
        if isinstance(step, JoinResult):
            self._finish_join(step)
        elif step is not None:
            self._send_lbp(step, now)

    def _finish_join(self, result: JoinResult) -> None:
        join = self._lbd.end_join()
        if join is not None:
            self.short_address = result.short_address
            self._emit(result.confirm(join.pan_id))

    def _from_meter_node(
        self, datagrams: list[tuple[bytes, Address]], now: float, latency: float = 0.0
    ) -> None:
        for payload, dest in datagrams:
            self._at(now + latency, self._meter_datagram(payload, dest))

    def _meter_datagram(self, payload: bytes, dest: Address) -> Callable[[float], None]:
        def arrive(now: float) -> None:
            if self._silent(now) or not self.joined:
                return
            packet = self._meter.packet(payload, dest)
            if packet is not None:
                self._emit(adp.DataIndication(self.link_quality, packet))

        return arrive

    # ------------------------------------------------------------------ event loop
    def _at(self, when: float, callback: Callable[[float], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, callback))

    def _advance(self, now: float) -> None:
        self._now = max(self._now, now)
        for _ in range(_MAX_STEPS):
            if self._disconnected:
                return
            timer_at = self._timers[0][0] if self._timers else None
            node_at = self._meter.next_deadline()
            timer_first = timer_at is not None and (node_at is None or timer_at <= node_at)
            if timer_at is not None and timer_at <= now and timer_first:
                when, _, callback = heapq.heappop(self._timers)
                callback(when)
            elif node_at is not None and node_at <= now:
                self._from_meter_node(self._meter.handle_timeout(node_at), node_at)
            else:
                return


def _command(value: int) -> adp.AdpCommand | int:
    try:
        return adp.AdpCommand(value)
    except ValueError:
        return value


def _any_frame(_inner: bytes) -> bool:
    return True


def _command_matcher(command: int) -> Callable[[bytes], bool]:
    """Match a frame (without delimiters) by its ADP command id."""

    def match(inner: bytes) -> bool:
        try:
            data = decode_frame(b"\x7e" + inner + b"\x7e").data
        except DecodeError:
            return False
        return data[:1] == bytes((command,))

    return match


_Handler = Callable[[G3ModemEmulator, Any, float], adp.SerialStatus]
#: Host requests the emulator serves (adp_serial.c _Callback_UsiAdpProtocol); others get
#: STATUS(UNKNOWN_COMMAND).
_HANDLERS: Final[dict[int, _Handler]] = {
    adp.AdpCommand.INITIALIZE: G3ModemEmulator._on_initialize,
    adp.AdpCommand.DATA_REQUEST: G3ModemEmulator._on_data,
    adp.AdpCommand.DISCOVERY_REQUEST: G3ModemEmulator._on_discovery,
    adp.AdpCommand.NETWORK_JOIN_REQUEST: G3ModemEmulator._on_join,
    adp.AdpCommand.NETWORK_LEAVE_REQUEST: G3ModemEmulator._on_leave,
    adp.AdpCommand.RESET_REQUEST: G3ModemEmulator._on_reset,
    adp.AdpCommand.SET_REQUEST: G3ModemEmulator._on_set,
    adp.AdpCommand.GET_REQUEST: G3ModemEmulator._on_get,
    adp.AdpCommand.LBP_SET_REQUEST: G3ModemEmulator._on_lbp_set,
}


def make_g3modem(
    *,
    psk: bytes,
    id_p: bytes,
    node: Node | None = None,
    now: float,
    seed: int = 1,
    **options: Any,
) -> G3ModemEmulator:
    """A G3 modem in front of ``node`` (default: a simulated meter).

    ``psk``/``id_p`` are the meter's credentials (16-byte PSK, the device ID_P it
    accepts); ``options`` go to :class:`G3ModemEmulator` (``pan_id``, ``id_s``).
    """
    return G3ModemEmulator(psk=psk, id_p=id_p, node=node, now=now, seed=seed, **options)

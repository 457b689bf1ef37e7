"""The simulated smart meter behind :class:`~smartmeter_proto.sim.g3modem.G3ModemEmulator`.

On the power line the meter is PAN coordinator (short address 0), LBP server (LBS) with its
own EAP-PSK credentials, the joining device's LBA, and an ECHONET Lite node on UDP 3610.
:class:`G3Meter` is that side: it answers LBP frames (:mod:`smartmeter_proto.plc.lbp`,
:mod:`smartmeter_proto.auth.eap_psk`), runs the node and builds the IPv6/UDP datagrams it
sends. Sans-IO: the modem emulator carries frames to it and owns time and the host link.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Callable
from typing import Final

from ..auth.eap import EapCode, EapPacket
from ..auth.eap_psk import EapOutcome, EapPskServer
from ..echonet.events import MULTICAST, Address
from ..echonet.frame import ECHONET_PORT
from ..echonet.node import Node
from ..errors import ProtocolError
from ..plc import lbp
from ..plc.broute_g3 import g3_link_local  # one G3 address rule, shared with the client
from ..wisun.radio.lowpan import ALL_NODES, build_ipv6_udp

__all__ = [
    "ARIB_TEST_ID_S",
    "COORDINATOR_SHORT_ADDRESS",
    "ECHONET_PORT",
    "FIRST_DEVICE_SHORT_ADDRESS",
    "MAX_ID_P",
    "METER_PAN_ID",
    "PSK_LEN",
    "G3Meter",
    "MeterBootstrap",
    "Secret",
    "g3_link_local",
]

#: PAN ID of the meter's network: the one in Microchip's G3 demo applications' link-local
#: template "FE80:0:0:0:781D:FF:FE00:0001" (app_tcpip_management.h). A synthetic choice.
METER_PAN_ID: Final = 0x781D
#: The PAN coordinator's short address (Harmony app_cycles.c: "shortAddress = 0x0000; //
#: Coordinator"); the meter is coordinator, LBS and the device's LBA at once.
COORDINATOR_SHORT_ADDRESS: Final = 0x0000
#: First short address the meter assigns to a joining device (synthetic).
FIRST_DEVICE_SHORT_ADDRESS: Final = 0x0001
#: ID_S of the ARIB test coordinator: 53 4D AD B2 C4 D5 E6 FA repeated to 34 bytes
#: (smartenergy_g3 lbp_coord.c sIdSArib, LBP_NETWORK_ACCESS_ID_SIZE_S_ARIB = 34).
ARIB_TEST_ID_S: Final = (bytes.fromhex("534DADB2C4D5E6FA") * 5)[:34]
#: Longest ID_P (lbp_defs.h LBP_NETWORK_ACCESS_ID_SIZE_P_ARIB = 36) and the PSK size.
MAX_ID_P: Final = 36
PSK_LEN: Final = 16
#: Key index of the GMK the meter hands out and activates (lbp_coord.c uses key index 0).
_GMK_INDEX: Final = 0


class Secret:
    """Bytes that are compared or used, never shown."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = bytes(value)

    def __repr__(self) -> str:
        return "<secret>"


class MeterBootstrap:
    """The meter's LBP server (LBS at the PAN coordinator) with its own EAP-PSK credentials.

    Message choice follows lbp_coord.c: EAP-PSK messages 1 and 3 in CHALLENGE, EAP-Success
    in ACCEPTED, EAP-Failure in DECLINE; message 3's EXT carries short address, GMK and
    GMK activation (key index 0). Like lbp_coord.c, it does not act on the parameter result
    the device returns in message 4's EXT.
    """

    def __init__(self, rng: random.Random, psk: bytes, id_p: bytes, id_s: bytes) -> None:
        self._rng = rng
        self._psk = Secret(psk)
        self._id_p = Secret(id_p)
        self._id_s = id_s
        self._gmk = Secret(rng.randbytes(PSK_LEN))
        self._sessions: dict[bytes, EapPskServer] = {}
        self._assigned: dict[bytes, int] = {}
        self._next_short = FIRST_DEVICE_SHORT_ADDRESS
        self.joined: set[bytes] = set()

    def __repr__(self) -> str:
        return f"MeterBootstrap(id_s=<{len(self._id_s)} bytes>, joined={len(self.joined)})"

    def _psk_for(self, id_p: bytes) -> bytes | None:
        if hmac.compare_digest(id_p, self._id_p.value):
            return self._psk.value
        return None

    def _short_for(self, lbd: bytes) -> int:
        if lbd not in self._assigned:
            self._assigned[lbd] = self._next_short
            self._next_short += 1
        return self._assigned[lbd]

    @staticmethod
    def _reply(kind: lbp.LbpMessageType, request: lbp.LbpMessage, eap: bytes) -> lbp.LbpMessage:
        return lbp.LbpMessage(kind, request.lbd_address, lbp.eap_to_lbp(eap), request.media_type)

    def receive(self, msg: lbp.LbpMessage, decline: Callable[[], bool]) -> lbp.LbpMessage | None:
        """One LBP message from a device -> the meter's answer, or None."""
        lbd = msg.lbd_address
        if msg.message_type == lbp.LbpMessageType.KICK_FROM_LBD:
            self.joined.discard(lbd)
            return None
        if msg.message_type != lbp.LbpMessageType.JOINING:
            return None
        if not msg.bootstrapping_data:  # first JOINING: start EAP-PSK
            if decline():
                failure = EapPacket(EapCode.FAILURE, self._rng.getrandbits(8), None).encode()
                return self._reply(lbp.LbpMessageType.DECLINE, msg, failure)
            ext = lbp.encode_config_ext(
                [
                    lbp.short_address_param(self._short_for(lbd)),
                    lbp.gmk_param(_GMK_INDEX, self._gmk.value),
                    lbp.gmk_activation_param(_GMK_INDEX),
                ]
            )
            server = EapPskServer(
                self._id_s, self._psk_for, random_bytes=self._rng.randbytes, ext=ext
            )
            self._sessions[lbd] = server
            return self._reply(lbp.LbpMessageType.CHALLENGE, msg, server.start())
        session = self._sessions.get(lbd)
        if session is None or not lbp.is_eap(msg.bootstrapping_data):
            return None
        try:
            answer = session.receive(lbp.eap_from_lbp(msg.bootstrapping_data))
        except ProtocolError:
            return None
        if answer is None:
            return None
        code = answer[0]
        if code == EapCode.REQUEST:
            return self._reply(lbp.LbpMessageType.CHALLENGE, msg, answer)
        del self._sessions[lbd]
        if code == EapCode.SUCCESS and session.outcome is EapOutcome.SUCCESS:
            self.joined.add(lbd)
            return self._reply(lbp.LbpMessageType.ACCEPTED, msg, answer)
        return self._reply(lbp.LbpMessageType.DECLINE, msg, answer)

    def kick(self, lbd: bytes) -> lbp.LbpMessage | None:
        """KICK_TO_LBD for a joined device (lbp_encode_decode.c LBP_Encode_KickToLBD)."""
        if lbd not in self.joined:
            return None
        self.joined.discard(lbd)
        return lbp.LbpMessage(lbp.LbpMessageType.KICK_TO_LBD, lbd)


_Outgoing = list[tuple[bytes, Address]]


class G3Meter:
    """The meter on the power line: PAN coordinator, LBS and ECHONET Lite ``node``.

    ``address`` is its link-local IPv6 address in PAN ``pan_id``.
    """

    def __init__(
        self,
        rng: random.Random,
        node: Node,
        *,
        psk: bytes,
        id_p: bytes,
        id_s: bytes,
        pan_id: int = METER_PAN_ID,
    ) -> None:
        self.pan_id = pan_id
        self.address = g3_link_local(pan_id, COORDINATOR_SHORT_ADDRESS)
        self.node = node
        self.bootstrap = MeterBootstrap(rng, psk, id_p, id_s)
        self._node_stuck_at: float | None = None

    def __repr__(self) -> str:
        return f"G3Meter(pan_id=0x{self.pan_id:04X}, bootstrap={self.bootstrap!r})"

    def receive_lbp(self, wire: bytes, decline: Callable[[], bool]) -> lbp.LbpMessage | None:
        """One LBP frame from the device -> the meter's answer, or None."""
        return self.bootstrap.receive(lbp.decode_lbp(wire), decline)

    def kick(self, lbd: bytes) -> lbp.LbpMessage | None:
        """KICK_TO_LBD for a joined device, or None."""
        return self.bootstrap.kick(lbd)

    def receive_datagram(
        self, payload: bytes, source: Address, dst_port: int, now: float
    ) -> _Outgoing:
        """A UDP payload reaching the meter -> the node's datagrams (payload, destination)."""
        if dst_port != ECHONET_PORT:
            return []
        self.node.receive_data(payload, source, now)
        return self.node.datagrams_to_send()

    def next_deadline(self) -> float | None:
        """When the node's schedule is due next; None for a node that does not move on."""
        deadline = self.node.next_deadline()
        stuck = self._node_stuck_at
        if deadline is not None and stuck is not None and deadline <= stuck:
            return None
        return deadline

    def handle_timeout(self, now: float) -> _Outgoing:
        """Run the node's schedule due at ``now`` -> its datagrams (payload, destination)."""
        self.node.handle_timeout(now)
        out = self.node.datagrams_to_send()
        after = self.node.next_deadline()
        if after is not None and after <= now:
            self._node_stuck_at = now  # a node that does not move on: skip it
        return out

    def packet(self, payload: bytes, dest: Address) -> bytes | None:
        """The IPv6/UDP packet carrying one of the node's datagrams, or None (bad address)."""
        if dest is MULTICAST:
            dst_ip, dst_port = ALL_NODES, ECHONET_PORT
        elif isinstance(dest, tuple) and len(dest) == 2:
            dst_ip, dst_port = dest
        else:
            return None
        return build_ipv6_udp(
            src_ip=self.address,
            dst_ip=dst_ip,
            src_port=ECHONET_PORT,
            dst_port=dst_port,
            payload=payload,
        )

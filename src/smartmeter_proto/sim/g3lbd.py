"""The device side of G3 LBP joining, as the modem in :mod:`~smartmeter_proto.sim.g3modem` runs it.

:class:`LbdJoin` is one NETWORK_JOIN in progress: the modem (LBP device, LBD) sends JOINING,
answers the meter's CHALLENGE messages with its EAP-PSK peer
(:mod:`smartmeter_proto.plc.lbp`, :mod:`smartmeter_proto.auth.eap_psk`) and, on ACCEPTED
with EAP success, takes its short address from the configuration parameters. Sans-IO: the
modem carries the frames, owns the join timer and reports the outcome to the host.
:class:`Lbd` keeps the PSK and ID_P the host sets (LBP_SET, or the ASF ADP attributes) as
:class:`~smartmeter_proto.sim.g3meter.Secret` and the join in progress.
Behaviour follows smartenergy_g3 ``lbp_dev.c`` (DECLINE gives join status NOT_PERMITED, an
undecodable message waits for the join timer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..auth.eap_psk import EapOutcome, EapPskPeer
from ..errors import DecodeError, ProtocolError
from ..plc import g3adp as adp
from ..plc import lbp
from .g3meter import MAX_ID_P, PSK_LEN, Secret

__all__ = ["EUI64_LEN", "UNASSIGNED", "JoinResult", "Lbd", "LbdJoin"]

EUI64_LEN: Final = 8  # an extended (MAC) address, the LBD address of LBP messages
UNASSIGNED: Final = 0xFFFF  # lbp_dev.c: short address 0xFFFF = not joined
_PAN_ID_LEN: Final = 2  # Harmony's MANUF_PAN_ID value (same attribute id as ASF's ID_P)

_LBP_IDS: Final = frozenset(int(a) for a in adp.LbpAttribute)

#: EXT of the device's EAP-PSK message 4: EXT_Type 0x02 (configuration parameters) and one
#: parameter-result, RESULT_PARAMETER_SUCCESS (0x00) with parameter id 0, for a message 3
#: whose parameters were accepted (lbp_dev.c _ProcessParameters and
#: _Join_Process_Challenge_ThirdMessage; value from lbp_encode_decode.h).
_JOIN_RESULT_EXT: Final = lbp.encode_config_ext([lbp.result_param(lbp.ParamResult.SUCCESS)])


@dataclass(frozen=True, slots=True)
class JoinResult:
    """How a join ends: the NETWORK_JOIN confirm's status and, on success, the short address."""

    status: adp.AdpStatus
    short_address: int | None = None

    def confirm(self, pan_id: int) -> adp.NetworkJoinConfirm:
        """The NETWORK_JOIN confirm for the host (short address 0xFFFF when not joined)."""
        address = UNASSIGNED if self.short_address is None else self.short_address
        return adp.NetworkJoinConfirm(self.status, address, pan_id)


@dataclass(slots=True)
class LbdJoin:
    """A NETWORK_JOIN in progress: the modem's EAP-PSK peer and where it is joining."""

    peer: EapPskPeer
    pan_id: int
    lba: int

    @staticmethod
    def joining(lbd_address: bytes) -> lbp.LbpMessage:
        """The JOINING message without bootstrapping data that opens the exchange."""
        return lbp.LbpMessage(lbp.LbpMessageType.JOINING, lbd_address)

    def receive(
        self, message: lbp.LbpMessage, lbd_address: bytes
    ) -> lbp.LbpMessage | JoinResult | None:
        """One LBP message from the meter: the reply to send, the join's end, or nothing."""
        kind = message.message_type
        if kind == lbp.LbpMessageType.DECLINE:
            return JoinResult(adp.AdpStatus.NOT_PERMITED)  # lbp_dev.c: DECLINE -> G3_NOT_PERMITED
        if kind not in (lbp.LbpMessageType.CHALLENGE, lbp.LbpMessageType.ACCEPTED):
            return None
        try:
            response = self.peer.receive(lbp.eap_from_lbp(message.bootstrapping_data))
        except ProtocolError:
            return None  # lbp_dev.c: an undecodable message waits for the join timer
        if response is not None:
            return lbp.LbpMessage(lbp.LbpMessageType.JOINING, lbd_address, lbp.eap_to_lbp(response))
        if kind == lbp.LbpMessageType.ACCEPTED and self.peer.outcome is EapOutcome.SUCCESS:
            return self._accept()
        return None

    def _accept(self) -> JoinResult:
        try:
            params = lbp.decode_config_ext(self.peer.ext or b"")
        except DecodeError:
            return JoinResult(adp.AdpStatus.FAILED)
        short = lbp.find_parameter(params, lbp.ConfParam.SHORT_ADDRESS)
        if short is None or len(short.value) != 2:
            return JoinResult(adp.AdpStatus.FAILED)
        return JoinResult(adp.AdpStatus.SUCCESS, int.from_bytes(short.value, "big"))


class Lbd:
    """The modem's LBP device: the host's PSK and ID_P (never shown) and the join in progress."""

    __slots__ = ("id_p", "join", "psk")

    def __init__(self) -> None:
        self.psk: Secret | None = None
        self.id_p: Secret | None = None
        self.join: LbdJoin | None = None

    def lbp_set(self, attribute: int, value: bytes) -> adp.LbpStatus:
        """LBP_SET of one attribute: PSK and IDP are kept, the other known ones accepted."""
        if attribute == adp.LbpAttribute.PSK:
            return self._store_psk(value)
        if attribute == adp.LbpAttribute.IDP:
            return self._store_id_p(value)
        return adp.LbpStatus.OK if attribute in _LBP_IDS else adp.LbpStatus.UNSUPPORTED_PARAMETER

    def legacy_set(self, attribute: int, value: bytes) -> adp.AdpStatus | None:
        """ADP SET of the PSK or ID_P by its ASF attribute id; None if the host means another.

        0x080000C2/C3 are PSK/ID_P in ASF firmware, EXTENDED_ADDRESS/PAN_ID in Harmony: the
        value's size tells which one the host means.
        """
        if attribute == adp.LegacyAdpAttribute.EAP_PRESHARED_KEY and len(value) != EUI64_LEN:
            ok = self._store_psk(value) is adp.LbpStatus.OK
        elif (
            attribute == adp.LegacyAdpAttribute.EAP_NETWORK_ACCESS_IDENTIFIER
            and len(value) != _PAN_ID_LEN
        ):
            ok = self._store_id_p(value) is adp.LbpStatus.OK
        else:
            return None
        return adp.AdpStatus.SUCCESS if ok else adp.AdpStatus.INVALID_PARAMETER

    def _store_psk(self, value: bytes) -> adp.LbpStatus:
        if len(value) != PSK_LEN:
            return adp.LbpStatus.INVALID_LENGTH
        self.psk = Secret(value)
        return adp.LbpStatus.OK

    def _store_id_p(self, value: bytes) -> adp.LbpStatus:
        if not 1 <= len(value) <= MAX_ID_P:
            return adp.LbpStatus.INVALID_LENGTH
        self.id_p = Secret(value)
        return adp.LbpStatus.OK

    def start_join(
        self, pan_id: int, lba: int, random_bytes: Callable[[int], bytes]
    ) -> LbdJoin | None:
        """Start a join towards PAN ``pan_id`` through the LBP agent ``lba``.

        None while a join runs or before both PSK and ID_P are set.
        """
        if self.join is not None or self.psk is None or self.id_p is None:
            return None
        peer = EapPskPeer(
            self.id_p.value, self.psk.value, random_bytes=random_bytes, ext4=_JOIN_RESULT_EXT
        )
        self.join = LbdJoin(peer, pan_id, lba)
        return self.join

    def reaches(self, pan_id: int, lba: int) -> bool:
        """False while joining a PAN or through an agent other than ``pan_id``/``lba``."""
        join = self.join
        return join is None or (join.pan_id, join.lba) == (pan_id, lba)

    def receive(
        self, message: lbp.LbpMessage, lbd_address: bytes
    ) -> lbp.LbpMessage | JoinResult | None:
        """One LBP message from the meter for the join in progress (see :meth:`LbdJoin.receive`)."""
        return None if self.join is None else self.join.receive(message, lbd_address)

    def end_join(self) -> LbdJoin | None:
        """The join in progress, which ends now."""
        join, self.join = self.join, None
        return join

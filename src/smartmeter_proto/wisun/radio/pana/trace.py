"""Why a join failed, read from the PANA messages a dongle printed (ERXUDP on port 716).

SKSTACK dongles print every PANA message the meter sends during SKJOIN. When
EVENT 24 follows, those messages say where the exchange stopped: a PAR with
the C flag carrying Result-Code PANA_AUTHENTICATION_REJECTED and EAP-Failure
right after EAP-PSK message 1 means the meter's check of MAC_P failed (RFC 4764:
the password or the ID), while no PAR at all means nothing answered. The text
names message kinds and codes only, never identities or key material.
"""

from __future__ import annotations

from typing import Final

from ....auth.eap import EAP_TYPE_PSK, EapCode, EapPacket
from ....auth.eap_psk_messages import (
    PskMessage1,
    PskMessage2,
    PskMessage3,
    PskMessage4,
    decode_psk_message,
)
from ....errors import DecodeError
from . import message as pana

__all__ = ["MAX_TRACED", "explain_refusal"]

#: Messages kept per join: a whole exchange is at most five from the meter.
MAX_TRACED: Final = 16
_PSK_NUMBER: Final = {PskMessage1: 1, PskMessage2: 2, PskMessage3: 3, PskMessage4: 4}


def _psk_message(packet: EapPacket) -> int | None:
    if packet.type != EAP_TYPE_PSK:
        return None
    try:
        return _PSK_NUMBER[type(decode_psk_message(packet.data))]
    except DecodeError:
        return None


def explain_refusal(messages: list[bytes]) -> str | None:
    """A one-line reason from the meter's PANA messages, or None when they say nothing."""
    last_psk = 0
    result: int | None = None
    final_eap: int | None = None
    for raw in messages[-MAX_TRACED:]:
        try:
            msg = pana.decode(raw)
        except DecodeError:
            continue
        avp = msg.find(pana.AvpCode.EAP_PAYLOAD)
        packet = None
        if avp is not None:
            try:
                packet = EapPacket.decode(avp.value)
            except DecodeError:
                packet = None
        if packet is not None and packet.code == EapCode.REQUEST:
            last_psk = _psk_message(packet) or last_psk
        if msg.is_request and msg.has(pana.Flag.COMPLETE):
            result = msg.u32(pana.AvpCode.RESULT_CODE)
            final_eap = None if packet is None else int(packet.code)
    if result is None:
        return None
    try:
        result_name = pana.ResultCode(result).name
    except ValueError:
        result_name = f"Result-Code {result}"
    outcomes = {int(EapCode.SUCCESS): "EAP-Success", int(EapCode.FAILURE): "EAP-Failure"}
    eap = outcomes.get(final_eap or 0, "no EAP outcome")

    where = f"after EAP-PSK message {last_psk}" if last_psk else "before EAP-PSK started"
    if last_psk == 1 and final_eap == EapCode.FAILURE:
        return (
            f"the meter refused at EAP-PSK message 2 ({result_name}, {eap}): "
            "the password or the B-route ID does not match the meter's"
        )
    return f"the meter ended PANA with {result_name} and {eap} {where}"

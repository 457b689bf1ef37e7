"""G3-PLC LoWPAN Bootstrapping Protocol (LBP) messages and their bootstrapping data (sans-IO).

LBP (ITU-T G.9903 annex on the bootstrapping protocol) carries the EAP-PSK exchange
between a joining device (LBD), an agent (LBA) and the PAN coordinator (LBS). Facts
below come from Microchip-MPLAB-Harmony/smartenergy_g3 ``g3/src/lbp``
(``lbp_encode_decode.c/.h``, ``lbp_dev.c``, ``lbp_coord.c``, ``eap_psk.c``, ``eap_psk.h``);
the parameter ids also appear in dmoghnie/ne-g3 ``src/lbp_manager.rs``.

Message layout (``LBP_Encode_*Request``, ``LBP_Decode_Message``)::

    byte 0: T (bit 7) | Code (bits 6-4) | media type (bit 3) | disable backup (bit 2) | 2 reserved
    byte 1: transaction id (reserved, sent as 0)
    8 bytes: A_LBD, the joining device's EUI-64
    bootstrapping data: an EAP packet, or configuration parameters (ACCEPTED only)

Inside LBP the EAP Code byte travels shifted left by two bits (``eap_psk.h``:
``EAP_REQUEST 0x04``, ``EAP_RESPONSE 0x08``, ``EAP_SUCCESS 0x0C``, ``EAP_FAILURE 0x10``);
``eap_psk.c`` shifts it back before computing the EAX header of the PCHANNEL and
forward again afterwards, so the EAX header is the RFC 4764 one. :func:`eap_to_lbp`
and :func:`eap_from_lbp` do exactly that at the LBP boundary. Bit 0 of the first
bootstrapping byte tells EAP (0) from configuration parameters (1) (``lbp_dev.c``
``_Join_Process_Accepted``): parameter ids are "already encoded on 1 byte (M field
and last bit included)", so they are odd.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeVar

from .._buffer import Cursor, Writer
from ..errors import DecodeError, EncodeError

__all__ = [
    "A_LBD_LEN",
    "EAP_CODE_SHIFT",
    "EXT_TYPE_CONFIGURATION_PARAMETERS",
    "ConfParam",
    "ConfigParameter",
    "LbpMessage",
    "LbpMessageType",
    "ParamResult",
    "decode_config_ext",
    "decode_lbp",
    "decode_parameters",
    "eap_from_lbp",
    "eap_to_lbp",
    "encode_config_ext",
    "encode_lbp",
    "encode_parameters",
    "find_parameter",
    "gmk_activation_param",
    "gmk_param",
    "is_eap",
    "result_param",
    "short_address_param",
]

LAYER: Final = "lbp"

#: A_LBD is the LBD's 64-bit extended address (LBP_Decode_Message: sizeof ADP_EXTENDED_ADDRESS).
A_LBD_LEN: Final = 8
_HEADER_LEN: Final = 2 + A_LBD_LEN
#: Byte 0: message type (T + Code) in the high nibble, media type bit 3, disable-backup bit 2.
_TYPE_SHIFT: Final = 4
_MEDIA_SHIFT: Final = 3
_DISABLE_BACKUP_SHIFT: Final = 2
_RESERVED_MASK: Final = 0x03
#: eap_psk.h: EAP codes inside LBP "take in account the 2 reserved bits (left shifted by 2)".
EAP_CODE_SHIFT: Final = 2
_EAP_RESERVED_MASK: Final = (1 << EAP_CODE_SHIFT) - 1
#: lbp_dev.c _Join_Process_Accepted: bit 0 of the first byte set = configuration parameters.
_CONFIG_FLAG: Final = 0x01
#: lbp_dev.c EAP_EXT_TYPE_CONFIGURATION_PARAMETERS: EXT_Type of message 3/4's PCHANNEL EXT.
EXT_TYPE_CONFIGURATION_PARAMETERS: Final = 0x02
#: lbp_coord.c: the GMK parameter is key index (1) + key (16).
_GMK_LEN: Final = 16


class LbpMessageType(IntEnum):
    """T bit and Code together (lbp_encode_decode.h LBP_JOINING .. LBP_KICK_TO_LBD)."""

    JOINING = 0x01  # T=0 Code=1: LBD -> LBS, carries EAP responses
    KICK_FROM_LBD = 0x04  # T=0 Code=4: the device tells the coordinator it left
    CONFLICT = 0x05  # T=0 Code=5 (listed in LBP_Decode_Message's comment only)
    ACCEPTED = 0x09  # T=1 Code=1: EAP-Success (or configuration parameters)
    CHALLENGE = 0x0A  # T=1 Code=2: EAP-PSK messages 1 and 3
    DECLINE = 0x0B  # T=1 Code=3: EAP-Failure
    KICK_TO_LBD = 0x0C  # T=1 Code=4: the coordinator removes the device

    @property
    def from_server(self) -> bool:
        """T bit: 1 when the message comes from the bootstrapping server (LBS)."""
        return bool(self & 0x08)


class ConfParam(IntEnum):
    """Configuration parameter ids, M field and last bit included (lbp_encode_decode.h)."""

    SHORT_ADDRESS = 0x1D  # 2 bytes, big-endian
    GMK = 0x27  # 17 bytes: key index + 16-byte group master key
    GMK_ACTIVATION = 0x2B  # 1 byte: key index to use
    GMK_REMOVAL = 0x2F  # 1 byte: key index to delete
    RESULT = 0x31  # 2 bytes (lbp_dev.c): result code + id of the parameter it concerns


class ParamResult(IntEnum):
    """Parameter-result codes (lbp_encode_decode.h RESULT_*)."""

    SUCCESS = 0x00
    MISSING_REQUIRED_PARAMETER = 0x01
    INVALID_PARAMETER_VALUE = 0x02
    UNKNOWN_PARAMETER_ID = 0x03


_E = TypeVar("_E", bound=IntEnum)


def _known(enum: type[_E], value: int) -> _E | int:
    try:
        return enum(value)
    except ValueError:
        return value


# --- LBP messages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class LbpMessage:
    """One LBP message; ``bootstrapping_data`` is the LBP-form EAP packet or parameters.

    ``reserved_bits`` (byte 0 bits 1-0) and ``transaction_id`` (byte 1) are 0 from
    Microchip's stack; they are kept so any message survives a round trip.
    """

    message_type: LbpMessageType | int
    lbd_address: bytes
    bootstrapping_data: bytes = b""
    media_type: int = 0
    disable_backup_medium: bool = False
    reserved_bits: int = 0
    transaction_id: int = 0

    def __post_init__(self) -> None:
        if not 0 <= int(self.message_type) <= 0x0F:
            raise ValueError(f"LBP message type is 4 bits, got {int(self.message_type)}")
        if len(self.lbd_address) != A_LBD_LEN:
            raise ValueError(f"A_LBD is {A_LBD_LEN} bytes, got {len(self.lbd_address)}")
        if self.media_type not in (0, 1) or not 0 <= self.reserved_bits <= _RESERVED_MASK:
            raise ValueError("media_type is one bit and reserved_bits two bits")
        if not 0 <= self.transaction_id <= 0xFF:
            raise ValueError(f"transaction id is one byte, got {self.transaction_id}")

    def encode(self) -> bytes:
        return encode_lbp(self)

    def __repr__(self) -> str:
        # Bootstrapping data may carry a GMK in clear (ACCEPTED configuration): sizes only.
        kind = self.message_type
        name = kind.name if isinstance(kind, LbpMessageType) else f"{kind:#x}"
        return (
            f"LbpMessage({name}, lbd={self.lbd_address.hex()}, "
            f"data=<{len(self.bootstrapping_data)} bytes>, media_type={self.media_type})"
        )


def encode_lbp(message: LbpMessage) -> bytes:
    """The LBP message on the wire (the payload of an ADP LBP request/indication)."""
    first = (
        (int(message.message_type) << _TYPE_SHIFT)
        | (message.media_type << _MEDIA_SHIFT)
        | (int(message.disable_backup_medium) << _DISABLE_BACKUP_SHIFT)
        | message.reserved_bits
    )
    return bytes((first, message.transaction_id)) + message.lbd_address + message.bootstrapping_data


def decode_lbp(data: bytes) -> LbpMessage:
    """Parse one LBP message; shorter than the 10-byte header is a :class:`DecodeError`."""
    cur = Cursor(data, LAYER)
    first = cur.pull_uint8("type")
    transaction_id = cur.pull_uint8("transaction id")
    lbd = cur.pull_bytes(A_LBD_LEN, "A_LBD")
    return LbpMessage(
        message_type=_known(LbpMessageType, first >> _TYPE_SHIFT),
        lbd_address=lbd,
        bootstrapping_data=cur.pull_rest(),
        media_type=(first >> _MEDIA_SHIFT) & 1,
        disable_backup_medium=bool((first >> _DISABLE_BACKUP_SHIFT) & 1),
        reserved_bits=first & _RESERVED_MASK,
        transaction_id=transaction_id,
    )


# --- EAP inside LBP ----------------------------------------------------------------------


def is_eap(bootstrapping_data: bytes) -> bool:
    """Whether bootstrapping data holds an EAP packet (bit 0 of its first byte clear)."""
    return bool(bootstrapping_data) and not bootstrapping_data[0] & _CONFIG_FLAG


def eap_to_lbp(packet: bytes) -> bytes:
    """An RFC 3748 EAP packet in LBP form: the Code byte shifted left by two bits."""
    if not packet:
        raise EncodeError("an EAP packet has at least a Code byte")
    code = packet[0]
    if code > 0xFF >> EAP_CODE_SHIFT:
        raise EncodeError(f"EAP code {code} does not fit the LBP form (at most 63)")
    return bytes((code << EAP_CODE_SHIFT,)) + packet[1:]


def eap_from_lbp(data: bytes) -> bytes:
    """The RFC 3748 EAP packet inside LBP bootstrapping data (Code shifted back)."""
    if not data:
        raise DecodeError(LAYER, _HEADER_LEN, "no bootstrapping data where an EAP packet belongs")
    if data[0] & _EAP_RESERVED_MASK:
        raise DecodeError(
            LAYER, _HEADER_LEN, f"first byte {data[0]:#04x} is not an LBP-form EAP code"
        )
    return bytes((data[0] >> EAP_CODE_SHIFT,)) + data[1:]


# --- configuration parameters ------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class ConfigParameter:
    """One configuration parameter: id byte, length byte, value (lbp_dev.c _ProcessParameters)."""

    param_id: ConfParam | int
    value: bytes

    def __post_init__(self) -> None:
        if not 0 <= int(self.param_id) <= 0xFF or len(self.value) > 0xFF:
            raise ValueError("parameter id is one byte and its value at most 255 bytes")

    def __repr__(self) -> str:
        pid = self.param_id
        name = pid.name if isinstance(pid, ConfParam) else f"{pid:#04x}"
        shown = f"<{len(self.value)} bytes masked>" if pid == ConfParam.GMK else self.value.hex()
        return f"ConfigParameter({name}, {shown})"


def short_address_param(short_address: int) -> ConfigParameter:
    """Short address the coordinator assigns (2 bytes, big-endian; lbp_coord.c)."""
    if not 0 <= short_address <= 0xFFFF:
        raise ValueError(f"short address is 16 bits, got {short_address}")
    return ConfigParameter(ConfParam.SHORT_ADDRESS, short_address.to_bytes(2, "big"))


def gmk_param(key_index: int, key: bytes) -> ConfigParameter:
    """Group master key with its key index (17 bytes; lbp_coord.c)."""
    if len(key) != _GMK_LEN or not 0 <= key_index <= 0xFF:
        raise ValueError("a GMK is 16 bytes with a one-byte key index")
    return ConfigParameter(ConfParam.GMK, bytes((key_index,)) + key)


def gmk_activation_param(key_index: int) -> ConfigParameter:
    """Which GMK index to use for outgoing frames (1 byte)."""
    return ConfigParameter(ConfParam.GMK_ACTIVATION, bytes((key_index,)))


def result_param(result: ParamResult | int, param_id: int = 0) -> ConfigParameter:
    """Parameter-result: code + the id it concerns (0 on success; lbp_dev.c)."""
    return ConfigParameter(ConfParam.RESULT, bytes((int(result), param_id)))


def encode_parameters(params: Iterable[ConfigParameter]) -> bytes:
    """Parameters as id/length/value triplets."""
    w = Writer()
    for param in params:
        w.push_uint8(int(param.param_id))
        w.push_uint8(len(param.value))
        w.push_bytes(param.value)
    return w.getvalue()


def decode_parameters(data: bytes, offset: int = 0) -> tuple[ConfigParameter, ...]:
    """Parse id/length/value triplets; a value running past the end is a DecodeError."""
    cur = Cursor(data, LAYER)
    out: list[ConfigParameter] = []
    try:
        while not cur.at_end():
            pid = cur.pull_uint8("parameter id")
            size = cur.pull_uint8("parameter length")
            value = cur.pull_bytes(size, "parameter value")
            out.append(ConfigParameter(_known(ConfParam, pid), value))
    except DecodeError as exc:  # re-label: ``offset`` is where ``data`` starts in its message
        raise DecodeError(LAYER, offset + exc.offset, exc.reason) from None
    return tuple(out)


def encode_config_ext(params: Iterable[ConfigParameter]) -> bytes:
    """PCHANNEL EXT (EXT_Type + payload) carrying parameters, as in messages 3 and 4."""
    return bytes((EXT_TYPE_CONFIGURATION_PARAMETERS,)) + encode_parameters(params)


def decode_config_ext(ext: bytes) -> tuple[ConfigParameter, ...]:
    """Parameters from a PCHANNEL EXT whose EXT_Type is 0x02 (configuration parameters)."""
    if not ext or ext[0] != EXT_TYPE_CONFIGURATION_PARAMETERS:
        found = f"{ext[0]:#04x}" if ext else "nothing"
        raise DecodeError(LAYER, 0, f"EXT_Type {found}, expected 0x02 (configuration parameters)")
    return decode_parameters(ext[1:], 1)


def find_parameter(
    params: Iterable[ConfigParameter], param_id: ConfParam | int
) -> ConfigParameter | None:
    """The first parameter with ``param_id``, or None."""
    return next((p for p in params if p.param_id == param_id), None)

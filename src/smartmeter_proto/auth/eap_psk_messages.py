"""EAP-PSK (RFC 4764) wire format: keys, the four messages and the PCHANNEL.

Sans-IO codec used by the peer/server state machines in :mod:`.eap_psk`.
Facts cross-checked against hostapd's eap_common/eap_psk_common.c (key setup, derivation,
MAC inputs, 22-byte PCHANNEL header).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

from .._buffer import Cursor
from .eap import EAP_TYPE_PSK, EapCode, EapPacket
from .eax import BLOCK_LEN, aes_cmac, aes_encrypt_block, eax_decrypt, eax_encrypt

__all__ = [
    "EMSK_LEN",
    "MAC_LEN",
    "MAX_ID_LEN",
    "MAX_NONCE",
    "MSK_LEN",
    "NONCE_LEN",
    "PCHANNEL_HEADER_LEN",
    "PSK_LEN",
    "RAND_LEN",
    "TAG_LEN",
    "EapPskKeys",
    "PChannel",
    "PChannelContent",
    "PskMessage",
    "PskMessage1",
    "PskMessage2",
    "PskMessage3",
    "PskMessage4",
    "PskResult",
    "check_id",
    "compute_mac_p",
    "compute_mac_s",
    "decode_psk_message",
    "derive_keys",
    "derive_session_keys",
    "key_setup",
    "open_pchannel",
    "pchannel_packet",
]


LAYER: Final = "eap-psk"

PSK_LEN: Final = 16  # RFC 4764 §2.1: the PSK is 16 bytes
RAND_LEN: Final = 16  # RFC 4764 §5.1: RAND_S / RAND_P are 16 bytes
MAC_LEN: Final = 16  # RFC 4764 §5.2: MAC_P / MAC_S are 16-byte CMAC outputs
NONCE_LEN: Final = 4  # RFC 4764 §3.3: the PCHANNEL nonce N is 4 bytes on the wire
TAG_LEN: Final = 16  # RFC 4764 §3.3: EAX tag, 16 bytes
MSK_LEN: Final = 64  # RFC 4764 §3.2 (RFC 3748 §7.10: MSK at least 64 bytes)
EMSK_LEN: Final = 64  # RFC 4764 §3.2
PCHANNEL_HEADER_LEN: Final = 22  # RFC 4764 §3.3: EAX header = EAP Code..RAND_S (4+1+1+16)
MAX_ID_LEN: Final = 253
"""Longest ID_P / ID_S accepted: an implementation bound (RFC 4282 §2.2, the NAI in RADIUS)."""
MAX_NONCE: Final = 0xFFFFFFFF  # RFC 4764 §3.3: N must not wrap

_T_SHIFT: Final = 6  # RFC 4764 §5: Flags = T (2 high bits) + 6 reserved bits
_R_SHIFT: Final = 6  # RFC 4764 §5.3: PCHANNEL byte = R (2 bits), E (1 bit), 5 reserved bits
_E_FLAG: Final = 0x20


class PskResult(IntEnum):
    """R flag of the PCHANNEL (RFC 4764 §5.3)."""

    CONT = 1
    DONE_SUCCESS = 2
    DONE_FAILURE = 3


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True, repr=False)
class EapPskKeys:
    """AK and KDK (§3.1), TEK, MSK and EMSK (§3.2).  repr() never shows key bytes."""

    ak: bytes
    kdk: bytes
    tek: bytes
    msk: bytes
    emsk: bytes

    def __repr__(self) -> str:
        return "EapPskKeys(ak=<masked>, kdk=<masked>, tek=<masked>, msk=<masked>, emsk=<masked>)"


def _xor_counter(block: bytes, counter: int) -> bytes:
    # "c_i XOR block": the counter is a 128-bit big-endian integer, so only the low bytes change.
    return (int.from_bytes(block, "big") ^ counter).to_bytes(BLOCK_LEN, "big")


def key_setup(psk: bytes) -> tuple[bytes, bytes]:
    """RFC 4764 §3.1: ``(AK, KDK)``.

    B = AES(PSK, 0^128); AK = AES(PSK, B XOR c1), KDK = AES(PSK, B XOR c2), c1 = 1, c2 = 2.
    """
    if len(psk) != PSK_LEN:
        raise ValueError(f"EAP-PSK PSK must be {PSK_LEN} bytes, got {len(psk)}")
    base = aes_encrypt_block(psk, bytes(BLOCK_LEN))
    ak = aes_encrypt_block(psk, _xor_counter(base, 1))
    kdk = aes_encrypt_block(psk, _xor_counter(base, 2))
    return ak, kdk


def derive_session_keys(kdk: bytes, rand_p: bytes) -> tuple[bytes, bytes, bytes]:
    """RFC 4764 §3.2: ``(TEK, MSK, EMSK)`` from X = AES(KDK, RAND_P), block i = AES(KDK, X ^ i).

    TEK uses counter 1, MSK counters 2..5, EMSK counters 6..9.
    """
    if len(rand_p) != RAND_LEN:
        raise ValueError(f"RAND_P must be {RAND_LEN} bytes, got {len(rand_p)}")
    base = aes_encrypt_block(kdk, rand_p)
    blocks = [aes_encrypt_block(kdk, _xor_counter(base, i)) for i in range(1, 10)]
    return blocks[0], b"".join(blocks[1:5]), b"".join(blocks[5:9])


def derive_keys(psk: bytes, rand_p: bytes) -> EapPskKeys:
    """Every EAP-PSK key for ``psk`` and the peer's ``rand_p``."""
    ak, kdk = key_setup(psk)
    tek, msk, emsk = derive_session_keys(kdk, rand_p)
    return EapPskKeys(ak, kdk, tek, msk, emsk)


def compute_mac_p(ak: bytes, id_p: bytes, id_s: bytes, rand_s: bytes, rand_p: bytes) -> bytes:
    """RFC 4764 §3.2: MAC_P = CMAC-AES-128(AK, ID_P || ID_S || RAND_S || RAND_P)."""
    return aes_cmac(ak, id_p + id_s + rand_s + rand_p)


def compute_mac_s(ak: bytes, id_s: bytes, rand_p: bytes) -> bytes:
    """RFC 4764 §3.2: MAC_S = CMAC-AES-128(AK, ID_S || RAND_P)."""
    return aes_cmac(ak, id_s + rand_p)


def _nonce_block(nonce: int) -> bytes:
    # RFC 4764 §3.3: the 4-byte N is padded on the left with 96 zero bits for EAX.
    return nonce.to_bytes(BLOCK_LEN, "big")


# --------------------------------------------------------------------------- messages


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def check_id(name: str, value: bytes) -> None:
    if not 1 <= len(value) <= MAX_ID_LEN:
        raise ValueError(f"{name} must be 1..{MAX_ID_LEN} bytes, got {len(value)}")


def _pull_id(cur: Cursor, name: str) -> bytes:
    start = cur.offset
    value = cur.pull_rest()
    if not 1 <= len(value) <= MAX_ID_LEN:
        raise cur.error(f"{name} must be 1..{MAX_ID_LEN} bytes, got {len(value)}", start)
    return value


@dataclass(frozen=True, slots=True)
class PChannelContent:
    """The PCHANNEL plaintext: R flag, E flag, and the EXT field (EXT_Type + EXT_Payload)."""

    result: int
    ext: bytes | None = None

    def __post_init__(self) -> None:
        if self.result not in (1, 2, 3):
            raise ValueError(f"PCHANNEL R flag must be 1..3, got {self.result}")
        if self.ext is not None and not self.ext:
            raise ValueError("EXT present (E flag) needs at least the EXT_Type byte")

    def encode(self) -> bytes:
        if self.ext is None:
            return bytes([self.result << _R_SHIFT])
        return bytes([self.result << _R_SHIFT | _E_FLAG]) + self.ext

    @classmethod
    def decode(cls, data: bytes) -> PChannelContent:
        cur = Cursor(data, LAYER)
        flags = cur.pull_uint8("PCHANNEL R/E flags")
        result = flags >> _R_SHIFT
        if result == 0:
            raise cur.error("PCHANNEL R flag 0 is not defined", 0)
        if flags & _E_FLAG:
            if cur.at_end():
                raise cur.error("E flag set but no EXT_Type byte")
            return cls(PskResult(result), cur.pull_rest())
        cur.expect_end("PCHANNEL without E flag")
        return cls(PskResult(result), None)


@dataclass(frozen=True, slots=True)
class PChannel:
    """PCHANNEL on the wire (RFC 4764 §3.3): Nonce (4), Tag (16), encrypted content (>= 1)."""

    nonce: int
    tag: bytes
    ciphertext: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.nonce <= MAX_NONCE:
            raise ValueError(f"PCHANNEL nonce out of range: {self.nonce}")
        _check_len("PCHANNEL tag", self.tag, TAG_LEN)
        if not self.ciphertext:
            raise ValueError("PCHANNEL needs at least the encrypted R/E flag byte")

    def encode(self) -> bytes:
        return self.nonce.to_bytes(NONCE_LEN, "big") + self.tag + self.ciphertext

    @classmethod
    def pull(cls, cur: Cursor) -> PChannel:
        nonce = cur.pull_uint32("PCHANNEL nonce")
        tag = cur.pull_bytes(TAG_LEN, "PCHANNEL tag")
        if cur.at_end():
            raise cur.error("PCHANNEL has no encrypted flag byte")
        return cls(nonce, tag, cur.pull_rest())


def _flags(t: int) -> bytes:
    return bytes([t << _T_SHIFT])


@dataclass(frozen=True, slots=True)
class PskMessage1:
    """Server -> peer: Flags(T=0), RAND_S, ID_S (RFC 4764 §5.1)."""

    T: ClassVar[int] = 0
    rand_s: bytes
    id_s: bytes

    def __post_init__(self) -> None:
        _check_len("RAND_S", self.rand_s, RAND_LEN)
        check_id("ID_S", self.id_s)

    def encode(self) -> bytes:
        """The EAP Type-Data (from the Flags byte on)."""
        return _flags(self.T) + self.rand_s + self.id_s

    @classmethod
    def pull(cls, cur: Cursor) -> PskMessage1:
        return cls(cur.pull_bytes(RAND_LEN, "RAND_S"), _pull_id(cur, "ID_S"))


@dataclass(frozen=True, slots=True)
class PskMessage2:
    """Peer -> server: Flags(T=1), RAND_S, RAND_P, MAC_P, ID_P (RFC 4764 §5.2)."""

    T: ClassVar[int] = 1
    rand_s: bytes
    rand_p: bytes
    mac_p: bytes
    id_p: bytes

    def __post_init__(self) -> None:
        _check_len("RAND_S", self.rand_s, RAND_LEN)
        _check_len("RAND_P", self.rand_p, RAND_LEN)
        _check_len("MAC_P", self.mac_p, MAC_LEN)
        check_id("ID_P", self.id_p)

    def encode(self) -> bytes:
        return _flags(self.T) + self.rand_s + self.rand_p + self.mac_p + self.id_p

    @classmethod
    def pull(cls, cur: Cursor) -> PskMessage2:
        rand_s = cur.pull_bytes(RAND_LEN, "RAND_S")
        rand_p = cur.pull_bytes(RAND_LEN, "RAND_P")
        mac_p = cur.pull_bytes(MAC_LEN, "MAC_P")
        return cls(rand_s, rand_p, mac_p, _pull_id(cur, "ID_P"))


@dataclass(frozen=True, slots=True)
class PskMessage3:
    """Server -> peer: Flags(T=2), RAND_S, MAC_S, PCHANNEL (RFC 4764 §5.3)."""

    T: ClassVar[int] = 2
    rand_s: bytes
    mac_s: bytes
    pchannel: PChannel

    def __post_init__(self) -> None:
        _check_len("RAND_S", self.rand_s, RAND_LEN)
        _check_len("MAC_S", self.mac_s, MAC_LEN)

    def encode(self) -> bytes:
        return _flags(self.T) + self.rand_s + self.mac_s + self.pchannel.encode()

    @classmethod
    def pull(cls, cur: Cursor) -> PskMessage3:
        rand_s = cur.pull_bytes(RAND_LEN, "RAND_S")
        mac_s = cur.pull_bytes(MAC_LEN, "MAC_S")
        return cls(rand_s, mac_s, PChannel.pull(cur))


@dataclass(frozen=True, slots=True)
class PskMessage4:
    """Peer -> server: Flags(T=3), RAND_S, PCHANNEL (RFC 4764 §5.4)."""

    T: ClassVar[int] = 3
    rand_s: bytes
    pchannel: PChannel

    def __post_init__(self) -> None:
        _check_len("RAND_S", self.rand_s, RAND_LEN)

    def encode(self) -> bytes:
        return _flags(self.T) + self.rand_s + self.pchannel.encode()

    @classmethod
    def pull(cls, cur: Cursor) -> PskMessage4:
        return cls(cur.pull_bytes(RAND_LEN, "RAND_S"), PChannel.pull(cur))


PskMessage = PskMessage1 | PskMessage2 | PskMessage3 | PskMessage4
_BY_T: Final[dict[int, Callable[[Cursor], PskMessage]]] = {
    0: PskMessage1.pull,
    1: PskMessage2.pull,
    2: PskMessage3.pull,
    3: PskMessage4.pull,
}


def decode_psk_message(type_data: bytes) -> PskMessage:
    """Decode EAP-PSK Type-Data (Flags onward); the T field picks the message.

    Reserved Flags bits are ignored on receipt; offsets in errors count from the Flags byte.
    """
    cur = Cursor(type_data, LAYER)
    flags = cur.pull_uint8("Flags")
    return _BY_T[flags >> _T_SHIFT](cur)


def pchannel_packet(
    code: EapCode,
    identifier: int,
    rand_s: bytes,
    mac_s: bytes | None,
    tek: bytes,
    nonce: int,
    content: PChannelContent,
) -> bytes:
    """Message 3 (with MAC_S) or 4 (without), its PCHANNEL sealed over the 22-byte header."""
    plain = content.encode()
    t = PskMessage3.T if mac_s is not None else PskMessage4.T
    length = PCHANNEL_HEADER_LEN + (MAC_LEN if mac_s is not None else 0) + NONCE_LEN + TAG_LEN
    header = (
        bytes([code, identifier])
        + (length + len(plain)).to_bytes(2, "big")
        + bytes([EAP_TYPE_PSK])
        + _flags(t)
        + rand_s
    )
    ciphertext, tag = eax_encrypt(tek, _nonce_block(nonce), header, plain)
    pchannel = PChannel(nonce, tag, ciphertext)
    msg: PskMessage = (
        PskMessage3(rand_s, mac_s, pchannel) if mac_s is not None else PskMessage4(rand_s, pchannel)
    )
    packet = EapPacket(code, identifier, EAP_TYPE_PSK, msg.encode()).encode()
    assert packet[:PCHANNEL_HEADER_LEN] == header
    return packet


def open_pchannel(tek: bytes, packet: bytes, pchannel: PChannel) -> PChannelContent:
    """Verify and decrypt; AuthError if the tag fails, DecodeError if the plaintext is bad."""
    plain = eax_decrypt(
        tek,
        _nonce_block(pchannel.nonce),
        packet[:PCHANNEL_HEADER_LEN],
        pchannel.ciphertext,
        pchannel.tag,
    )
    return PChannelContent.decode(plain)

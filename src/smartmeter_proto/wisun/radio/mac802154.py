"""IEEE 802.15.4 MAC frames: header codec, FCS and CCM* frame protection (sans-IO).

Covers the general MAC frame format of IEEE 802.15.4-2006 section 7.2.1 and the
frame-version-2 (802.15.4-2015 section 7.2) header rules: frame control, sequence
number, PAN identifiers, short/extended addresses, the auxiliary security header
(2006 section 7.6.2) and the 16-bit FCS. Information elements (2015) are not parsed:
they stay at the front of ``payload``.

Addresses are little-endian on the wire; this module exposes them most significant
byte first, the way MAC addresses are written (``bytes.fromhex("001C6400...")``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from ..._buffer import Cursor
from ...errors import DecodeError, EncodeError

__all__ = [
    "BROADCAST_SHORT",
    "LAYER",
    "AddrMode",
    "AuxSecurityHeader",
    "FrameType",
    "FrameVersion",
    "KeyIdMode",
    "MacFrame",
    "SecurityLevel",
    "crc16_kermit",
    "data_frame",
    "decode",
    "encode",
    "protect",
    "unprotect",
]

LAYER = "ieee802154"

#: Broadcast short address and PAN ID (802.15.4-2006 section 7.2.1.4 / 7.2.1.3).
BROADCAST_SHORT = b"\xff\xff"
#: FCS length in octets (802.15.4-2006 section 7.2.1.9).
FCS_LEN = 2
#: AES block size used by CCM* (802.15.4-2006 annex B).
_AES_BLOCK = 16


class FrameType(IntEnum):
    """Frame type subfield, FCF bits 0-2 (802.15.4-2006 table 79, 2015 table 7-1)."""

    BEACON = 0
    DATA = 1
    ACK = 2
    COMMAND = 3
    MULTIPURPOSE = 5
    FRAGMENT = 6
    EXTENDED = 7


class AddrMode(IntEnum):
    """Addressing mode subfields, FCF bits 10-11 and 14-15 (802.15.4-2006 table 80)."""

    NONE = 0
    RESERVED = 1
    SHORT = 2
    EXTENDED = 3


class FrameVersion(IntEnum):
    """Frame version subfield, FCF bits 12-13 (802.15.4-2015 section 7.2.1.9)."""

    V2003 = 0
    V2006 = 1
    V2015 = 2


class SecurityLevel(IntEnum):
    """Security level, security-control bits 0-2 (802.15.4-2006 table 95)."""

    NONE = 0
    MIC_32 = 1
    MIC_64 = 2
    MIC_128 = 3
    ENC = 4
    ENC_MIC_32 = 5
    ENC_MIC_64 = 6
    ENC_MIC_128 = 7


class KeyIdMode(IntEnum):
    """Key identifier mode, security-control bits 3-4 (802.15.4-2006 table 96)."""

    IMPLICIT = 0
    INDEX = 1
    SOURCE4_INDEX = 2
    SOURCE8_INDEX = 3


#: Key source length per key identifier mode (802.15.4-2006 table 96).
_KEY_SOURCE_LEN = {0: 0, 1: 0, 2: 4, 3: 8}
#: MIC length in octets per security level (802.15.4-2006 table 95).
MIC_LEN = {0: 0, 1: 4, 2: 8, 3: 16, 4: 0, 5: 4, 6: 8, 7: 16}
#: CCM* with a 13-byte nonce has a 2-byte length field (L = 2): messages up to 65 535 bytes.
_CCM_MAX_MESSAGE = 0xFFFF
_ADDR_LEN = {AddrMode.NONE: 0, AddrMode.SHORT: 2, AddrMode.EXTENDED: 8}

# Frame control bit positions (802.15.4-2015 figure 7-2).
_FCF_SECURITY = 1 << 3
_FCF_PENDING = 1 << 4
_FCF_ACK_REQ = 1 << 5
_FCF_PANID_COMP = 1 << 6
_FCF_RESERVED = 1 << 7
_FCF_SEQ_SUPPRESS = 1 << 8
_FCF_IE_PRESENT = 1 << 9
# Security control (802.15.4-2015 figure 9-6): bit 5 frame counter suppression.
_SC_FC_SUPPRESS = 1 << 5


def _mask(data: bytes) -> str:
    return f"<{len(data)} bytes>"


@dataclass(frozen=True, slots=True)
class AuxSecurityHeader:
    """Auxiliary security header (802.15.4-2006 section 7.6.2).

    ``key_source`` is kept in wire order. ``frame_counter`` is ``None`` only for a
    2015 frame with frame counter suppression (security-control bit 5).
    ``control_reserved`` holds security-control bits 5-7 raw.
    """

    security_level: int
    key_id_mode: int = KeyIdMode.IMPLICIT
    frame_counter: int | None = 0
    key_source: bytes = b""
    key_index: int | None = None
    control_reserved: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.security_level <= 7 or not 0 <= self.key_id_mode <= 3:
            raise ValueError("security_level must be 0..7 and key_id_mode 0..3")
        if len(self.key_source) != _KEY_SOURCE_LEN[self.key_id_mode]:
            raise ValueError(f"key_source must be {_KEY_SOURCE_LEN[self.key_id_mode]} bytes")
        if (self.key_index is None) != (self.key_id_mode == KeyIdMode.IMPLICIT):
            raise ValueError("key_index is required exactly when key_id_mode is not IMPLICIT")

    @property
    def mic_len(self) -> int:
        return MIC_LEN[self.security_level]

    def encode(self) -> bytes:
        control = self.security_level | (self.key_id_mode << 3) | (self.control_reserved << 5)
        out = bytearray([control])
        if self.frame_counter is not None:
            out += self.frame_counter.to_bytes(4, "little")
        out += self.key_source
        if self.key_index is not None:
            out.append(self.key_index)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class MacFrame:
    """One IEEE 802.15.4 MAC frame (MHR fields + MAC payload, FCS excluded).

    ``dst_addr``/``src_addr``: ``None``, 2 bytes (short) or 8 bytes (extended), most
    significant byte first. ``seq`` is ``None`` when suppressed (2015). PAN IDs are
    present or ``None`` as the addressing modes and PAN ID compression dictate.
    """

    frame_type: int
    seq: int | None
    dst_pan_id: int | None = None
    dst_addr: bytes | None = None
    src_pan_id: int | None = None
    src_addr: bytes | None = None
    payload: bytes = b""
    security: AuxSecurityHeader | None = None
    frame_pending: bool = False
    ack_request: bool = False
    pan_id_compression: bool = False
    frame_version: int = FrameVersion.V2006
    ie_present: bool = False
    fcf_reserved: bool = False
    #: Frame control bit 8 of a version 0/1 frame, where it is reserved (802.15.4-2006
    #: section 7.2.1.1, figure 41; it means sequence number suppression only in version 2,
    #: 802.15.4-2015 section 7.2.2.10): kept so the frame re-encodes byte for byte, while
    #: the sequence number is read as always.
    fcf_reserved_seq: bool = False

    @property
    def security_enabled(self) -> bool:
        return self.security is not None

    @property
    def dst_mode(self) -> AddrMode:
        return _mode_of(self.dst_addr)

    @property
    def src_mode(self) -> AddrMode:
        return _mode_of(self.src_addr)

    def frame_control(self) -> int:
        """The 16-bit frame control field value."""
        fcf = self.frame_type | (self.dst_mode << 10) | (self.frame_version << 12)
        fcf |= self.src_mode << 14
        for flag, bit in (
            (self.security is not None, _FCF_SECURITY),
            (self.frame_pending, _FCF_PENDING),
            (self.ack_request, _FCF_ACK_REQ),
            (self.pan_id_compression, _FCF_PANID_COMP),
            (self.fcf_reserved, _FCF_RESERVED),
            (self.seq is None or self.fcf_reserved_seq, _FCF_SEQ_SUPPRESS),
            (self.ie_present, _FCF_IE_PRESENT),
        ):
            if flag:
                fcf |= bit
        return fcf

    def header(self) -> bytes:
        """The MHR: frame control through the auxiliary security header."""
        if not 0 <= self.frame_type <= 7 or not 0 <= self.frame_version <= 3:
            raise EncodeError("frame_type must be 0..7 and frame_version 0..3")
        dst_pan, src_pan = _pan_presence(
            self.frame_version, self.dst_mode, self.src_mode, self.pan_id_compression
        )
        for present, value, name in (
            (dst_pan, self.dst_pan_id, "dst_pan_id"),
            (src_pan, self.src_pan_id, "src_pan_id"),
        ):
            if present != (value is not None):
                state = "required" if present else "not allowed"
                raise EncodeError(f"{name} is {state} with these addressing modes")
            if value is not None and not 0 <= value <= 0xFFFF:
                raise EncodeError(f"{name} out of range: {value}")
        legacy = self.frame_version < FrameVersion.V2015
        if legacy and self.seq is None:
            # 802.15.4-2015 section 7.2.2.10: only a version 2 frame suppresses it.
            raise EncodeError("a frame of version 0 or 1 carries a sequence number")
        if self.fcf_reserved_seq and not legacy:
            raise EncodeError("fcf_reserved_seq is for frame versions 0 and 1 only")
        out = bytearray(self.frame_control().to_bytes(2, "little"))
        if self.seq is not None:
            if not 0 <= self.seq <= 0xFF:
                raise EncodeError(f"sequence number out of range: {self.seq}")
            out.append(self.seq)
        if self.dst_pan_id is not None:
            out += self.dst_pan_id.to_bytes(2, "little")
        if self.dst_addr is not None:
            out += self.dst_addr[::-1]
        if self.src_pan_id is not None:
            out += self.src_pan_id.to_bytes(2, "little")
        if self.src_addr is not None:
            out += self.src_addr[::-1]
        if self.security is not None:
            out += self.security.encode()
        return bytes(out)

    def encode(self, *, fcs: bool = False) -> bytes:
        """Wire bytes; with ``fcs`` the CRC-16 FCS is appended (little-endian)."""
        body = self.header() + self.payload
        if fcs:
            body += crc16_kermit(body).to_bytes(FCS_LEN, "little")
        return body

    @classmethod
    def decode(cls, data: bytes, *, fcs: bool = False) -> MacFrame:
        return decode(data, fcs=fcs)


def _mode_of(addr: bytes | None) -> AddrMode:
    if addr is None:
        return AddrMode.NONE
    if len(addr) == 2:
        return AddrMode.SHORT
    if len(addr) == 8:
        return AddrMode.EXTENDED
    raise EncodeError(f"address must be 2 or 8 bytes, got {len(addr)}")


def _pan_presence(version: int, dst: AddrMode, src: AddrMode, comp: bool) -> tuple[bool, bool]:
    """Whether the destination and source PAN IDs are present.

    Versions 0/1: 802.15.4-2006 section 7.2.1.1.5; version 2: 802.15.4-2015 table 7-2.
    """
    has_dst, has_src = dst != AddrMode.NONE, src != AddrMode.NONE
    if version < FrameVersion.V2015:
        return has_dst, has_src and not (comp and has_dst)
    if not has_dst and not has_src:
        return comp, False
    if has_dst and not has_src:
        return not comp, False
    if has_src and not has_dst:
        return False, not comp
    if dst == AddrMode.EXTENDED and src == AddrMode.EXTENDED:
        return not comp, False
    return True, not comp


def crc16_kermit(data: bytes) -> int:
    """CRC-16 of the FCS: x^16+x^12+x^5+1, reflected, init 0 (802.15.4-2006 7.2.1.9)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def _pull_addr(cur: Cursor, mode: int, what: str) -> bytes | None:
    if mode == AddrMode.NONE:
        return None
    return cur.pull_bytes(_ADDR_LEN[AddrMode(mode)], what)[::-1]


def _pull_pan(cur: Cursor, present: bool, what: str) -> int | None:
    if not present:
        return None
    return int.from_bytes(cur.pull_bytes(2, what), "little")


def _pull_security(cur: Cursor, version: int) -> AuxSecurityHeader:
    control = cur.pull_uint8("security control")
    key_id_mode = (control >> 3) & 0x3
    counter: int | None = None
    if not (version >= FrameVersion.V2015 and control & _SC_FC_SUPPRESS):
        counter = int.from_bytes(cur.pull_bytes(4, "frame counter"), "little")
    source = cur.pull_bytes(_KEY_SOURCE_LEN[key_id_mode], "key source")
    index = None if key_id_mode == KeyIdMode.IMPLICIT else cur.pull_uint8("key index")
    return AuxSecurityHeader(control & 0x7, key_id_mode, counter, source, index, control >> 5)


def _check_frame_rules(frame: MacFrame) -> None:
    """Refuse a general-format frame its frame type does not allow (``decode(strict=True)``).

    Frame type 4 is reserved and 5-7 (2015 multipurpose, fragment, extended) have their
    own formats (802.15.4-2015 table 7-1, sections 7.3.5-7.3.7). A beacon names its
    sender (2015 section 7.3.1.1, 2006 section 7.2.2.1.1). A 2003/2006 data or command
    frame has at least one address (2006 section 7.2.1.1.6); a 2003/2006 acknowledgment
    is frame control and sequence number only (2006 section 7.2.2.3); a command frame
    starts with its command frame identifier (2006 section 7.2.2.4).
    """
    kind = frame.frame_type
    legacy = frame.frame_version < FrameVersion.V2015
    if kind not in (FrameType.BEACON, FrameType.DATA, FrameType.ACK, FrameType.COMMAND):
        raise DecodeError(
            LAYER, 0, f"frame type {kind}: reserved or not a general-format MAC frame"
        )
    if kind == FrameType.BEACON and frame.src_addr is None:
        raise DecodeError(LAYER, 0, "beacon without a source address")
    if (
        kind in (FrameType.DATA, FrameType.COMMAND)
        and legacy
        and (frame.src_addr is None and frame.dst_addr is None)
    ):
        raise DecodeError(LAYER, 0, f"{FrameType(kind).name.lower()} frame without any address")
    if kind == FrameType.ACK and legacy:
        extra = len(frame.payload)
        if frame.dst_addr is not None or frame.src_addr is not None or frame.security:
            raise DecodeError(LAYER, 0, "acknowledgment with addresses or security")
        if extra:
            raise DecodeError(LAYER, 3, f"acknowledgment followed by {extra} bytes")
    if kind == FrameType.COMMAND and not frame.payload:
        raise DecodeError(LAYER, len(frame.header()), "command frame without its identifier")


def decode(data: bytes, *, fcs: bool = False, strict: bool = False) -> MacFrame:
    """Parse one MAC frame; with ``fcs`` the trailing 2-byte FCS is checked and removed.

    With ``strict`` a frame its type does not allow is refused (see
    :func:`_check_frame_rules`); otherwise any header that parses is returned.
    """
    data = bytes(data)
    if fcs:
        if len(data) < FCS_LEN:
            raise DecodeError(LAYER, 0, f"frame of {len(data)} bytes has no room for an FCS")
        body, trailer = data[:-FCS_LEN], data[-FCS_LEN:]
        expected = crc16_kermit(body)
        if int.from_bytes(trailer, "little") != expected:
            raise DecodeError(LAYER, len(body), f"FCS mismatch: expected {expected:04x}")
        data = body
    cur = Cursor(data, LAYER)
    fcf = int.from_bytes(cur.pull_bytes(2, "frame control"), "little")
    dst_mode, version, src_mode = (fcf >> 10) & 3, (fcf >> 12) & 3, (fcf >> 14) & 3
    if AddrMode.RESERVED in (dst_mode, src_mode):
        raise cur.error("reserved addressing mode 1", 0)
    if version > FrameVersion.V2015:
        raise cur.error(f"reserved frame version {version}", 0)
    comp = bool(fcf & _FCF_PANID_COMP)
    # Bit 8 suppresses the sequence number in a version 2 frame only (802.15.4-2015
    # section 7.2.2.10); in versions 0/1 it is reserved (802.15.4-2006 section 7.2.1.1,
    # figure 41) and ignored on receipt: the sequence number is there.
    legacy_seq_bit = version < FrameVersion.V2015 and bool(fcf & _FCF_SEQ_SUPPRESS)
    suppressed = bool(fcf & _FCF_SEQ_SUPPRESS) and not legacy_seq_bit
    seq = None if suppressed else cur.pull_uint8("sequence number")
    has_dst_pan, has_src_pan = _pan_presence(version, AddrMode(dst_mode), AddrMode(src_mode), comp)
    dst_pan = _pull_pan(cur, has_dst_pan, "destination PAN ID")
    dst_addr = _pull_addr(cur, dst_mode, "destination address")
    src_pan = _pull_pan(cur, has_src_pan, "source PAN ID")
    src_addr = _pull_addr(cur, src_mode, "source address")
    security = _pull_security(cur, version) if fcf & _FCF_SECURITY else None
    frame_type = fcf & 0x7
    known = frame_type in FrameType._value2member_map_
    frame = MacFrame(
        frame_type=FrameType(frame_type) if known else frame_type,
        seq=seq,
        dst_pan_id=dst_pan,
        dst_addr=dst_addr,
        src_pan_id=src_pan,
        src_addr=src_addr,
        payload=cur.pull_rest(),
        security=security,
        frame_pending=bool(fcf & _FCF_PENDING),
        ack_request=bool(fcf & _FCF_ACK_REQ),
        pan_id_compression=comp,
        frame_version=FrameVersion(version),
        ie_present=bool(fcf & _FCF_IE_PRESENT),
        fcf_reserved=bool(fcf & _FCF_RESERVED),
        fcf_reserved_seq=legacy_seq_bit,
    )
    if strict:
        _check_frame_rules(frame)
    return frame


def encode(frame: MacFrame, *, fcs: bool = False) -> bytes:
    """Wire bytes of ``frame`` (see :meth:`MacFrame.encode`)."""
    return frame.encode(fcs=fcs)


def data_frame(
    *,
    src_addr: bytes,
    dst_addr: bytes | None,
    pan_id: int,
    seq: int,
    payload: bytes,
    ack_request: bool | None = None,
) -> MacFrame:
    """A 2006 data frame inside one PAN (PAN ID compression set).

    ``dst_addr`` ``None`` means broadcast (short 0xFFFF). ``ack_request`` defaults to
    on for unicast and off for broadcast (802.15.4-2006 section 7.5.6.4).
    """
    dst = BROADCAST_SHORT if dst_addr is None else dst_addr
    if ack_request is None:
        ack_request = dst != BROADCAST_SHORT
    return MacFrame(
        frame_type=FrameType.DATA,
        seq=seq,
        dst_pan_id=pan_id,
        dst_addr=dst,
        src_addr=src_addr,
        payload=payload,
        ack_request=ack_request,
        pan_id_compression=True,
        frame_version=FrameVersion.V2006,
    )


# --- CCM* frame protection (802.15.4-2006 section 7.6.3, annex B) -------------------


def _nonce(src_ext: bytes, counter: int, level: int) -> bytes:
    """CCM* nonce: source extended address, frame counter, security level (7.6.3.2)."""
    return src_ext + counter.to_bytes(4, "big") + bytes([level])


def _split_auth(frame: MacFrame) -> tuple[bytes, bytes]:
    """(authenticated-only prefix of the payload, private payload) per 7.6.3.4.

    The private payload of a command frame starts after the command frame identifier;
    a beacon's private payload is its beacon payload, which this module does not
    delimit, so a secured beacon is treated as authenticated-only.
    """
    if frame.frame_type == FrameType.COMMAND and frame.payload:
        return frame.payload[:1], frame.payload[1:]
    if frame.frame_type == FrameType.BEACON:
        return frame.payload, b""
    return b"", frame.payload


def _source(frame: MacFrame, src_ext: bytes | None) -> bytes:
    src = src_ext if src_ext is not None else frame.src_addr
    if src is None or len(src) != 8:
        raise ValueError("an 8-byte source extended address is needed for the CCM* nonce")
    return src


def _security_error(frame: MacFrame, reason: str) -> DecodeError:
    """A :class:`DecodeError` at the frame's auxiliary security header."""
    security = frame.security
    offset = 0 if security is None else len(frame.header()) - len(security.encode())
    return DecodeError(LAYER, offset, reason)


def _ctr(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """CCM* encryption with M = 0: CTR keystream from A_1 (annex B.4.1.3)."""
    first_block = bytes([1]) + nonce + (1).to_bytes(2, "big")
    enc = Cipher(algorithms.AES(key), modes.CTR(first_block)).encryptor()
    return enc.update(data) + enc.finalize()


def protect(frame: MacFrame, key: bytes, *, src_ext: bytes | None = None) -> MacFrame:
    """Apply CCM* to ``frame`` (its ``security`` header set, payload in clear).

    ``src_ext`` is the sender's extended address when the frame carries a short one.
    Returns the frame whose payload is the (encrypted) payload followed by the MIC.
    """
    sec = frame.security
    if sec is None or sec.security_level == SecurityLevel.NONE or sec.frame_counter is None:
        raise ValueError("protect() needs a security header with a level and frame counter")
    nonce = _nonce(_source(frame, src_ext), sec.frame_counter, sec.security_level)
    auth, private = _split_auth(frame)
    header = frame.header() + auth
    encrypt = sec.security_level >= SecurityLevel.ENC
    if sec.mic_len == 0:
        return replace(frame, payload=auth + _ctr(key, nonce, private))
    ccm = AESCCM(key, tag_length=sec.mic_len)
    if encrypt:
        sealed = ccm.encrypt(nonce, private, header)
    else:
        sealed = private + ccm.encrypt(nonce, b"", header + private)
    return replace(frame, payload=auth + sealed)


def unprotect(frame: MacFrame, key: bytes, *, src_ext: bytes | None = None) -> MacFrame:
    """Check and remove CCM* protection; the inverse of :func:`protect`.

    Raises :class:`DecodeError` for what the frame says: no security header, security
    level 0, a suppressed frame counter, no 8-byte source address for the nonce (and no
    ``src_ext``), a payload shorter than its MIC, a MIC that does not verify.
    ``ValueError`` only for the caller's arguments (``src_ext`` not 8 bytes, a bad key).
    The key never appears in an error.
    """
    if src_ext is not None and len(src_ext) != 8:
        raise ValueError(f"src_ext must be 8 bytes, got {len(src_ext)}")
    sec = frame.security
    if sec is None:
        raise DecodeError(LAYER, 0, "frame is not secured (security enabled bit clear)")
    if sec.security_level == SecurityLevel.NONE:
        raise _security_error(frame, "security level 0: nothing to unprotect")
    if sec.frame_counter is None:
        raise _security_error(frame, "frame counter suppressed: no CCM* nonce can be formed")
    source = src_ext if src_ext is not None else frame.src_addr
    if source is None or len(source) != 8:
        raise _security_error(
            frame, "no 8-byte source address for the CCM* nonce (pass the sender's src_ext)"
        )
    nonce = _nonce(source, sec.frame_counter, sec.security_level)
    auth, private = _split_auth(frame)
    if frame.frame_type == FrameType.BEACON:
        if len(auth) < sec.mic_len:
            raise DecodeError(LAYER, 0, "secured payload shorter than its MIC")
        cut = len(auth) - sec.mic_len
        auth, private = auth[:cut], auth[cut:]
    if len(private) < sec.mic_len:
        raise DecodeError(LAYER, 0, "secured payload shorter than its MIC")
    if len(private) - sec.mic_len > _CCM_MAX_MESSAGE:
        raise _security_error(frame, f"secured payload of {len(private)} bytes exceeds CCM* L=2")
    header = frame.header() + auth
    if sec.mic_len == 0:
        return replace(frame, payload=auth + _ctr(key, nonce, private))
    ccm = AESCCM(key, tag_length=sec.mic_len)
    try:
        if sec.security_level >= SecurityLevel.ENC:
            clear = ccm.decrypt(nonce, private, header)
        else:
            clear = private[: -sec.mic_len]
            ccm.decrypt(nonce, private[-sec.mic_len :], header + clear)
    except InvalidTag:
        raise DecodeError(LAYER, 0, f"MIC check failed (key {_mask(key)})") from None
    return replace(frame, payload=auth + clear)

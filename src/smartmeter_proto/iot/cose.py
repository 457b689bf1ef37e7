"""COSE_Encrypt0 and COSE_Mac0 for the IoT route: RFC 9052 structures, RFC 9053 algorithms.

Profile (gas, water and special meters):

* COSE_Encrypt0 (CBOR tag 16) with AES-CCM-16-64-128 (alg 10) for confidentiality and
  integrity; COSE_Mac0 (CBOR tag 17) with HMAC 256/64 (alg 4) for integrity only.
* Protected header ``{1: alg}``; unprotected header ``{4: kid, 6: Partial IV}``.
* The Partial IV is the per-meter sequence number in the fewest big-endian bytes
  (RFC 8613 §6.1), at most 5 bytes (RFC 8613 §7.2.1: sequence numbers stay below 2**40).
* The AES-CCM nonce is the 13-byte Common IV XOR the left-zero-padded Partial IV
  (RFC 9052 §3.1, "Partial IV").
* The sequence number is bound again through the external AAD of the Enc_structure
  (RFC 9052 §5.3) or MAC_structure (RFC 9052 §6.3); :func:`build_external_aad` makes the
  CBOR array ``[meter id, route tag, seq]``.

Decoding reads through a small strict CBOR reader (definite lengths only, bounded
nesting) so malformed input only ever raises :class:`DecodeError`; authentication
failures raise :class:`AuthError`. Replay protection is :class:`ReplayWindow`, to be fed
only with sequence numbers of messages that opened successfully. A sender must never
reuse a sequence number under one key: AES-CCM loses all protection on nonce reuse.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from .._buffer import Cursor
from ..errors import AuthError, DecodeError

__all__ = [
    "CCM_KEY_LENGTH",
    "CCM_NONCE_LENGTH",
    "CCM_TAG_LENGTH",
    "DEFAULT_REPLAY_WINDOW",
    "HMAC_MIN_KEY_LENGTH",
    "HMAC_TAG_LENGTH",
    "MAX_PARTIAL_IV_LENGTH",
    "MAX_SEQ",
    "TAG_ENCRYPT0",
    "TAG_MAC0",
    "Algorithm",
    "Encrypt0Message",
    "HeaderLabel",
    "Mac0Message",
    "Opened",
    "ReplayWindow",
    "build_external_aad",
    "decode_encrypt0",
    "decode_mac0",
    "decrypt_encrypt0",
    "enc_structure",
    "encrypt0",
    "mac0",
    "mac_structure",
    "nonce_from_partial_iv",
    "open_encrypt0",
    "open_mac0",
    "partial_iv_from_seq",
    "protect_encrypt0",
    "protect_mac0",
    "seq_from_partial_iv",
    "verify_mac0",
]

LAYER = "cose"

#: CBOR tags of the single-recipient messages (RFC 9052 §2).
TAG_ENCRYPT0 = 16
TAG_MAC0 = 17


class Algorithm(IntEnum):
    """COSE algorithm identifiers of this profile (IANA "COSE Algorithms" registry)."""

    HMAC_256_64 = 4  # RFC 9053 §3.1: HMAC with SHA-256, tag truncated to 64 bits
    AES_CCM_16_64_128 = 10  # RFC 9053 §4.2: AES-CCM, L = 16 bits, M = 64 bits, 128-bit key


class HeaderLabel(IntEnum):
    """Common header parameter labels (RFC 9052 §3.1)."""

    ALG = 1
    CRIT = 2
    CONTENT_TYPE = 3
    KID = 4
    IV = 5
    PARTIAL_IV = 6


# RFC 9053 §4.2, AES-CCM-16-64-128: 128-bit key, 64-bit tag, nonce of 15 - L(2) = 13 bytes.
CCM_KEY_LENGTH = 16
CCM_TAG_LENGTH = 8
CCM_NONCE_LENGTH = 13
# RFC 9053 §3.1, HMAC 256/64: the SHA-256 HMAC truncated to its leftmost 64 bits.
HMAC_TAG_LENGTH = 8
# RFC 2104 §3: keys shorter than the hash output (32 bytes for SHA-256) are discouraged.
HMAC_MIN_KEY_LENGTH = 32
# RFC 8613 §7.2.1: sequence numbers stay below 2**40, so a Partial IV fits in 5 bytes.
MAX_SEQ = (1 << 40) - 1
MAX_PARTIAL_IV_LENGTH = 5
#: Default anti-replay window (sequence numbers accepted below the highest one seen).
DEFAULT_REPLAY_WINDOW = 64

# Context strings of the structures authenticated (RFC 9052 §5.3 and §6.3).
_ENCRYPT0_CONTEXT = "Encrypt0"
_MAC0_CONTEXT = "MAC0"
# Serialized protected headers this profile emits: {1: 10} = h'a1010a', {1: 4} = h'a10104'.
_PROTECTED_ENCRYPT0 = cbor2.dumps({int(HeaderLabel.ALG): int(Algorithm.AES_CCM_16_64_128)})
_PROTECTED_MAC0 = cbor2.dumps({int(HeaderLabel.ALG): int(Algorithm.HMAC_256_64)})
# Nesting bound of the header reader; COSE headers of this profile are flat.
_MAX_DEPTH = 16


# --------------------------------------------------------------------------- strict CBOR reader


class _Simple(NamedTuple):
    """A CBOR major-type-7 item (simple value or float), kept as its raw argument."""

    value: int


class _Tagged(NamedTuple):
    """A CBOR tagged item, kept uninterpreted."""

    tag: int
    item: object


def _pull_head(cur: Cursor, what: str) -> tuple[int, int]:
    """Read one CBOR initial byte and its argument (RFC 8949 §3); no indefinite lengths."""
    start = cur.offset
    initial = cur.pull_uint8(what)
    major, info = initial >> 5, initial & 0x1F
    if info < 24:
        return major, info
    if info == 24:
        return major, cur.pull_uint8(what)
    if info == 25:
        return major, cur.pull_uint16(what)
    if info == 26:
        return major, cur.pull_uint32(what)
    if info == 27:
        return major, int.from_bytes(cur.pull_bytes(8, what), "big")
    if info == 31:
        raise cur.error(f"{what}: indefinite-length or break item not accepted", start)
    raise cur.error(f"{what}: reserved additional information {info}", start)


def _pull_item(cur: Cursor, depth: int = 0) -> object:
    """Read one CBOR data item into int/bytes/str/list/dict/_Tagged/_Simple."""
    start = cur.offset
    major, arg = _pull_head(cur, "CBOR item")
    if major == 0:
        return arg
    if major == 1:
        return -1 - arg
    if major == 2:
        return cur.pull_bytes(arg, "byte string")
    if major == 3:
        raw = cur.pull_bytes(arg, "text string")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise cur.error("text string is not valid UTF-8", start) from None
    if major == 7:
        return _Simple(arg)
    if depth >= _MAX_DEPTH:
        raise cur.error(f"CBOR nesting deeper than {_MAX_DEPTH}", start)
    if major == 4:
        items: list[object] = []
        for _ in range(arg):  # every item costs at least one byte: bounded by the input
            items.append(_pull_item(cur, depth + 1))
        return items
    if major == 5:
        return _pull_map_body(cur, arg, depth + 1)
    return _Tagged(arg, _pull_item(cur, depth + 1))


def _pull_map_body(cur: Cursor, count: int, depth: int) -> dict[int | str, object]:
    result: dict[int | str, object] = {}
    for _ in range(count):
        at = cur.offset
        label = _pull_item(cur, depth)
        if type(label) not in (int, str):
            raise cur.error("map key is not an integer or text label (RFC 9052 §1.5)", at)
        assert isinstance(label, int | str)
        if label in result:
            raise cur.error(f"duplicate map key {label!r}", at)
        result[label] = _pull_item(cur, depth)
    return result


def _pull_bstr(cur: Cursor, what: str) -> bytes:
    start = cur.offset
    major, length = _pull_head(cur, what)
    if major != 2:
        raise cur.error(f"{what}: expected a byte string, found CBOR major type {major}", start)
    return cur.pull_bytes(length, what)


def _pull_map(cur: Cursor, what: str) -> dict[int | str, object]:
    start = cur.offset
    major, count = _pull_head(cur, what)
    if major != 5:
        raise cur.error(f"{what}: expected a map, found CBOR major type {major}", start)
    return _pull_map_body(cur, count, 1)


# --------------------------------------------------------------------------- message layer


@dataclass(frozen=True, slots=True)
class Encrypt0Message:
    """A decoded COSE_Encrypt0 (RFC 9052 §5.2); ``protected`` is the header bstr as received."""

    protected: bytes
    alg: int
    kid: bytes | None
    iv: bytes | None
    partial_iv: bytes | None
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class Mac0Message:
    """A decoded COSE_Mac0 (RFC 9052 §6.2); ``protected`` is the header bstr as received."""

    protected: bytes
    alg: int
    kid: bytes | None
    partial_iv: bytes | None
    payload: bytes
    tag: bytes


class _Headers(NamedTuple):
    alg: int
    kid: bytes | None
    iv: bytes | None
    partial_iv: bytes | None


def _bytes_header(
    merged: Mapping[int | str, object], label: HeaderLabel, offset: int
) -> bytes | None:
    value = merged.get(int(label))
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise DecodeError(LAYER, offset, f"header {label.name.lower()} is not a byte string")
    return value


def _interpret_headers(
    protected: Mapping[int | str, object],
    unprotected: Mapping[int | str, object],
    protected_at: int,
    unprotected_at: int,
) -> _Headers:
    """Apply the RFC 9052 §3 rules this profile relies on and pick out the known labels."""
    both = protected.keys() & unprotected.keys()
    if both:
        raise DecodeError(LAYER, unprotected_at, f"labels {sorted(map(str, both))} in both buckets")
    if HeaderLabel.CRIT in protected or HeaderLabel.CRIT in unprotected:
        raise DecodeError(LAYER, protected_at, "crit header present; no extension is understood")
    if HeaderLabel.ALG in unprotected:
        raise DecodeError(LAYER, unprotected_at, "alg must be in the protected header")
    alg = protected.get(int(HeaderLabel.ALG))
    if type(alg) is not int:
        raise DecodeError(LAYER, protected_at, "protected header has no integer alg")
    merged = {**protected, **unprotected}
    iv = _bytes_header(merged, HeaderLabel.IV, unprotected_at)
    partial_iv = _bytes_header(merged, HeaderLabel.PARTIAL_IV, unprotected_at)
    if iv is not None and partial_iv is not None:
        raise DecodeError(LAYER, unprotected_at, "both IV and Partial IV present (RFC 9052 §3.1)")
    kid = _bytes_header(merged, HeaderLabel.KID, unprotected_at)
    return _Headers(alg, kid, iv, partial_iv)


def _decode_envelope(
    data: bytes, cbor_tag: int, items: int, name: str, alg: Algorithm
) -> tuple[Cursor, bytes, _Headers]:
    """Read tag, array head and both header buckets; the cursor stops at the content."""
    cur = Cursor(data, LAYER)
    major, tag = _pull_head(cur, name)
    if major != 6 or tag != cbor_tag:
        found = f"CBOR tag {tag}" if major == 6 else f"CBOR major type {major}"
        raise cur.error(f"expected CBOR tag {cbor_tag} ({name}), found {found}", 0)
    at = cur.offset
    major, count = _pull_head(cur, name)
    if major != 4 or count != items:
        raise cur.error(f"{name} must be an array of {items} items", at)
    protected_at = cur.offset
    protected = _pull_bstr(cur, "protected header")
    content_at = cur.offset - len(protected)
    protected_map: dict[int | str, object] = {}
    if protected:
        inner = Cursor(protected, LAYER)
        try:
            protected_map = _pull_map(inner, "protected header")
            inner.expect_end("protected header map")
        except DecodeError as exc:
            raise DecodeError(LAYER, content_at + exc.offset, exc.reason) from None
    unprotected_at = cur.offset
    unprotected_map = _pull_map(cur, "unprotected header")
    headers = _interpret_headers(protected_map, unprotected_map, protected_at, unprotected_at)
    if headers.alg != alg:
        raise DecodeError(
            LAYER, protected_at, f"algorithm {headers.alg}, expected {int(alg)} ({alg.name})"
        )
    return cur, protected, headers


def decode_encrypt0(data: bytes) -> Encrypt0Message:
    """Parse a tagged COSE_Encrypt0 with alg AES-CCM-16-64-128; no cryptography yet."""
    cur, protected, headers = _decode_envelope(
        data, TAG_ENCRYPT0, 3, "COSE_Encrypt0", Algorithm.AES_CCM_16_64_128
    )
    at = cur.offset
    ciphertext = _pull_bstr(cur, "ciphertext")
    if len(ciphertext) < CCM_TAG_LENGTH:
        raise cur.error(f"ciphertext shorter than the {CCM_TAG_LENGTH}-byte CCM tag", at)
    cur.expect_end("COSE_Encrypt0")
    return Encrypt0Message(
        protected, headers.alg, headers.kid, headers.iv, headers.partial_iv, ciphertext
    )


def decode_mac0(data: bytes) -> Mac0Message:
    """Parse a tagged COSE_Mac0 with alg HMAC 256/64; no cryptography yet."""
    cur, protected, headers = _decode_envelope(
        data, TAG_MAC0, 4, "COSE_Mac0", Algorithm.HMAC_256_64
    )
    if headers.iv is not None:
        raise cur.error("IV header has no meaning in a COSE_Mac0")
    payload = _pull_bstr(cur, "payload")
    at = cur.offset
    tag = _pull_bstr(cur, "MAC tag")
    if len(tag) != HMAC_TAG_LENGTH:
        raise cur.error(f"MAC tag of {len(tag)} bytes, expected {HMAC_TAG_LENGTH}", at)
    cur.expect_end("COSE_Mac0")
    return Mac0Message(protected, headers.alg, headers.kid, headers.partial_iv, payload, tag)


def enc_structure(protected: bytes, external_aad: bytes) -> bytes:
    """The AAD of a COSE_Encrypt0: CBOR ``["Encrypt0", protected, external_aad]`` (§5.3)."""
    return cbor2.dumps([_ENCRYPT0_CONTEXT, protected, external_aad])


def mac_structure(protected: bytes, external_aad: bytes, payload: bytes) -> bytes:
    """The MACed bytes of a COSE_Mac0: ``["MAC0", protected, external_aad, payload]`` (§6.3)."""
    return cbor2.dumps([_MAC0_CONTEXT, protected, external_aad, payload])


def _check_length(value: bytes, length: int, what: str) -> None:
    if len(value) != length:
        raise ValueError(f"{what} must be {length} bytes, got {len(value)}")


def encrypt0(
    plaintext: bytes,
    *,
    key: bytes,
    nonce: bytes,
    unprotected: Mapping[int, bytes],
    external_aad: bytes = b"",
) -> bytes:
    """A tagged COSE_Encrypt0 with AES-CCM-16-64-128 under an explicit 13-byte nonce."""
    _check_length(key, CCM_KEY_LENGTH, "AES-CCM-16-64-128 key")
    _check_length(nonce, CCM_NONCE_LENGTH, "AES-CCM-16-64-128 nonce")
    aad = enc_structure(_PROTECTED_ENCRYPT0, external_aad)
    ciphertext = AESCCM(key, tag_length=CCM_TAG_LENGTH).encrypt(nonce, plaintext, aad)
    body = [_PROTECTED_ENCRYPT0, {int(k): v for k, v in unprotected.items()}, ciphertext]
    return cbor2.dumps(cbor2.CBORTag(TAG_ENCRYPT0, body))


def decrypt_encrypt0(
    message: Encrypt0Message, *, key: bytes, nonce: bytes, external_aad: bytes = b""
) -> bytes:
    """Check and decrypt a decoded COSE_Encrypt0; :class:`AuthError` if the tag fails."""
    _check_length(key, CCM_KEY_LENGTH, "AES-CCM-16-64-128 key")
    _check_length(nonce, CCM_NONCE_LENGTH, "AES-CCM-16-64-128 nonce")
    aad = enc_structure(message.protected, external_aad)
    try:
        return AESCCM(key, tag_length=CCM_TAG_LENGTH).decrypt(nonce, message.ciphertext, aad)
    except InvalidTag:
        raise AuthError("COSE_Encrypt0: AES-CCM authentication tag mismatch") from None


def _hmac_256_64(key: bytes, protected: bytes, external_aad: bytes, payload: bytes) -> bytes:
    if len(key) < HMAC_MIN_KEY_LENGTH:
        raise ValueError(f"HMAC 256/64 key must be at least {HMAC_MIN_KEY_LENGTH} bytes")
    to_mac = mac_structure(protected, external_aad, payload)
    return hmac.new(key, to_mac, hashlib.sha256).digest()[:HMAC_TAG_LENGTH]


def mac0(
    payload: bytes, *, key: bytes, unprotected: Mapping[int, bytes], external_aad: bytes = b""
) -> bytes:
    """A tagged COSE_Mac0 with HMAC 256/64 over ``payload``."""
    tag = _hmac_256_64(key, _PROTECTED_MAC0, external_aad, payload)
    body = [_PROTECTED_MAC0, {int(k): v for k, v in unprotected.items()}, payload, tag]
    return cbor2.dumps(cbor2.CBORTag(TAG_MAC0, body))


def verify_mac0(message: Mac0Message, *, key: bytes, external_aad: bytes = b"") -> None:
    """Check the HMAC 256/64 tag of a decoded COSE_Mac0 in constant time."""
    expected = _hmac_256_64(key, message.protected, external_aad, message.payload)
    if not hmac.compare_digest(expected, message.tag):
        raise AuthError("COSE_Mac0: HMAC 256/64 tag mismatch")


# --------------------------------------------------------------------------- sequence numbers


def partial_iv_from_seq(seq: int) -> bytes:
    """The Partial IV of ``seq``: big-endian, fewest bytes, 0 -> h'00' (RFC 8613 §6.1)."""
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"sequence number must be in 0..{MAX_SEQ}, got {seq}")
    return seq.to_bytes(max(1, (seq.bit_length() + 7) // 8), "big")


def seq_from_partial_iv(partial_iv: bytes, offset: int = 0) -> int:
    """The sequence number of a received Partial IV; only the minimal encoding is accepted."""
    if not 1 <= len(partial_iv) <= MAX_PARTIAL_IV_LENGTH:
        raise DecodeError(LAYER, offset, f"Partial IV of {len(partial_iv)} bytes, expected 1..5")
    if len(partial_iv) > 1 and partial_iv[0] == 0:
        raise DecodeError(LAYER, offset, "Partial IV has a leading zero byte (not minimal)")
    return int.from_bytes(partial_iv, "big")


def nonce_from_partial_iv(common_iv: bytes, partial_iv: bytes) -> bytes:
    """AES-CCM nonce: Partial IV left-padded with zeros, XOR the Common IV (RFC 9052 §3.1)."""
    _check_length(common_iv, CCM_NONCE_LENGTH, "Common IV")
    if len(partial_iv) > CCM_NONCE_LENGTH:
        raise ValueError("Partial IV longer than the nonce")
    padded = partial_iv.rjust(CCM_NONCE_LENGTH, b"\x00")
    return bytes(a ^ b for a, b in zip(common_iv, padded, strict=True))


def build_external_aad(meter_id: str | bytes, route: str, seq: int) -> bytes:
    """The external AAD of this profile: CBOR ``[meter id, route tag, sequence number]``."""
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"sequence number must be in 0..{MAX_SEQ}, got {seq}")
    return cbor2.dumps([meter_id, route, seq])


# --------------------------------------------------------------------------- profile


class Opened(NamedTuple):
    """What :func:`open_encrypt0` / :func:`open_mac0` return once the message authenticated."""

    kid: bytes
    seq: int
    payload: bytes


def _profile_fields(kid: bytes | None, partial_iv: bytes | None) -> tuple[bytes, int]:
    if kid is None:
        raise DecodeError(LAYER, 0, "kid header missing")
    if partial_iv is None:
        raise DecodeError(LAYER, 0, "Partial IV header missing")
    return kid, seq_from_partial_iv(partial_iv)


def _lookup(keys_by_kid: Mapping[bytes, bytes], kid: bytes) -> bytes:
    key = keys_by_kid.get(kid)
    if key is None:
        raise AuthError("unknown key id")
    return key


def _check_kid(kid: bytes) -> None:
    if not kid:
        raise ValueError("kid must not be empty")


def protect_encrypt0(
    payload: bytes, *, key: bytes, kid: bytes, common_iv: bytes, seq: int, external_aad: bytes
) -> bytes:
    """Encrypt ``payload`` as a COSE_Encrypt0 (alg 10) carrying ``kid`` and Partial IV ``seq``."""
    _check_kid(kid)
    partial_iv = partial_iv_from_seq(seq)
    return encrypt0(
        payload,
        key=key,
        nonce=nonce_from_partial_iv(common_iv, partial_iv),
        unprotected={int(HeaderLabel.KID): kid, int(HeaderLabel.PARTIAL_IV): partial_iv},
        external_aad=external_aad,
    )


def open_encrypt0(
    data: bytes,
    *,
    keys_by_kid: Mapping[bytes, bytes],
    common_iv: bytes,
    external_aad_for: Callable[[bytes, int], bytes],
) -> Opened:
    """Decode, authenticate and decrypt a profile COSE_Encrypt0 -> ``(kid, seq, payload)``.

    ``external_aad_for(kid, seq)`` rebuilds the external AAD the sender bound. Replay
    checking is left to the caller (:class:`ReplayWindow`), after this returns.
    """
    message = decode_encrypt0(data)
    if message.iv is not None:
        raise DecodeError(LAYER, 0, "full IV header not allowed; this profile uses a Partial IV")
    kid, seq = _profile_fields(message.kid, message.partial_iv)
    key = _lookup(keys_by_kid, kid)
    assert message.partial_iv is not None
    nonce = nonce_from_partial_iv(common_iv, message.partial_iv)
    payload = decrypt_encrypt0(
        message, key=key, nonce=nonce, external_aad=external_aad_for(kid, seq)
    )
    return Opened(kid, seq, payload)


def protect_mac0(payload: bytes, *, key: bytes, kid: bytes, seq: int, external_aad: bytes) -> bytes:
    """Authenticate ``payload`` as a COSE_Mac0 (alg 4) carrying ``kid`` and Partial IV ``seq``."""
    _check_kid(kid)
    unprotected = {int(HeaderLabel.KID): kid, int(HeaderLabel.PARTIAL_IV): partial_iv_from_seq(seq)}
    return mac0(payload, key=key, unprotected=unprotected, external_aad=external_aad)


def open_mac0(
    data: bytes,
    *,
    keys_by_kid: Mapping[bytes, bytes],
    external_aad_for: Callable[[bytes, int], bytes],
) -> Opened:
    """Decode and verify a profile COSE_Mac0 -> ``(kid, seq, payload)``."""
    message = decode_mac0(data)
    kid, seq = _profile_fields(message.kid, message.partial_iv)
    key = _lookup(keys_by_kid, kid)
    verify_mac0(message, key=key, external_aad=external_aad_for(kid, seq))
    return Opened(kid, seq, message.payload)


class ReplayWindow:
    """Per-meter anti-replay state: the highest sequence number and a bitmap below it.

    A number is accepted once; numbers ``size`` or more below the highest accepted one are
    refused as stale (sliding window in the manner of RFC 4303 §3.4.3). Feed it only with
    sequence numbers of messages that authenticated.
    """

    __slots__ = ("_size", "_state")

    def __init__(self, size: int = DEFAULT_REPLAY_WINDOW) -> None:
        if size < 1:
            raise ValueError(f"replay window size must be >= 1, got {size}")
        self._size = size
        self._state: dict[Hashable, tuple[int, int]] = {}

    @property
    def size(self) -> int:
        return self._size

    def highest(self, meter_id: Hashable) -> int | None:
        """The highest sequence number accepted for ``meter_id``, or None."""
        state = self._state.get(meter_id)
        return None if state is None else state[0]

    def restore(self, meter_id: Hashable, highest: int) -> None:
        """Start ``meter_id`` from a saved highest number: it and all below count as seen.

        What arrived below a saved floor is unknown after a restart, so the whole window
        under it is taken as used (a restarted receiver refuses rather than re-accepts).
        """
        if highest < 0:
            raise ValueError(f"sequence number must be >= 0, got {highest}")
        state = self._state.get(meter_id)
        if state is None or state[0] < highest:
            self._state[meter_id] = (highest, (1 << self._size) - 1)

    def check_and_update(self, meter_id: Hashable, seq: int) -> None:
        """Record ``seq`` for ``meter_id``; :class:`AuthError` if replayed or too old."""
        if seq < 0:
            raise ValueError(f"sequence number must be >= 0, got {seq}")
        state = self._state.get(meter_id)
        if state is None:
            self._state[meter_id] = (seq, 1)
            return
        highest, seen = state
        if seq > highest:
            shift = seq - highest
            seen = ((seen << shift) | 1) & ((1 << self._size) - 1) if shift < self._size else 1
            self._state[meter_id] = (seq, seen)
            return
        behind = highest - seq
        if behind >= self._size:
            raise AuthError(
                f"replayed or stale sequence number {seq}: {behind} below the highest "
                f"accepted {highest}, window {self._size}"
            )
        if (seen >> behind) & 1:
            raise AuthError(f"replayed sequence number {seq}")
        self._state[meter_id] = (highest, seen | (1 << behind))

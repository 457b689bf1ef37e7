"""AES-128 CMAC (OMAC1) and EAX authenticated encryption, as EAP-PSK uses them.

CMAC: RFC 4493 (= OMAC1).  EAX: Bellare, Rogaway, Wagner, "The EAX Mode of
Operation" (FSE 2004), with a 16-byte tag.  Built on ``cryptography``'s AES.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from ..errors import AuthError

__all__ = [
    "BLOCK_LEN",
    "KEY_LEN",
    "TAG_LEN",
    "aes_cmac",
    "aes_encrypt_block",
    "eax_decrypt",
    "eax_encrypt",
]

BLOCK_LEN = 16
"""AES block size in bytes (FIPS 197)."""
KEY_LEN = 16
"""AES-128 key size in bytes."""
TAG_LEN = 16
"""EAX tag length used here: the full block, as RFC 4764 §3.3 requires for the PCHANNEL."""


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LEN:
        raise ValueError(f"AES-128 key must be {KEY_LEN} bytes, got {len(key)}")


def aes_encrypt_block(key: bytes, block: bytes) -> bytes:
    """AES-128 of one 16-byte block (the raw permutation, ECB on a single block)."""
    _check_key(key)
    if len(block) != BLOCK_LEN:
        raise ValueError(f"AES block must be {BLOCK_LEN} bytes, got {len(block)}")
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - one block
    return encryptor.update(block) + encryptor.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-128-CMAC (RFC 4493, identical to OMAC1) of ``data``: 16 bytes."""
    _check_key(key)
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


def _omac_t(key: bytes, t: int, data: bytes) -> bytes:
    # EAX paper: OMAC^t_K(M) = OMAC_K([t]_n || M), [t]_n = t as an n-bit (16-byte) block.
    return aes_cmac(key, t.to_bytes(BLOCK_LEN, "big") + data)


def _ctr(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    # EAX's CTR increments the whole 128-bit block, as cryptography's CTR mode does.
    encryptor = Cipher(algorithms.AES(key), modes.CTR(counter_block)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _xor3(a: bytes, b: bytes, c: bytes) -> bytes:
    return (
        int.from_bytes(a, "big") ^ int.from_bytes(b, "big") ^ int.from_bytes(c, "big")
    ).to_bytes(BLOCK_LEN, "big")


def eax_encrypt(key: bytes, nonce: bytes, header: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """EAX-encrypt ``plaintext``; returns ``(ciphertext, tag)`` with a 16-byte tag."""
    _check_key(key)
    n_mac = _omac_t(key, 0, nonce)
    h_mac = _omac_t(key, 1, header)
    ciphertext = _ctr(key, n_mac, plaintext)
    c_mac = _omac_t(key, 2, ciphertext)
    return ciphertext, _xor3(n_mac, h_mac, c_mac)


def eax_decrypt(key: bytes, nonce: bytes, header: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """Check the tag (constant time) and EAX-decrypt; :class:`AuthError` if it does not verify."""
    _check_key(key)
    n_mac = _omac_t(key, 0, nonce)
    h_mac = _omac_t(key, 1, header)
    c_mac = _omac_t(key, 2, ciphertext)
    if len(tag) != TAG_LEN or not hmac.compare_digest(_xor3(n_mac, h_mac, c_mac), tag):
        raise AuthError("EAX tag does not verify")
    return _ctr(key, n_mac, ciphertext)

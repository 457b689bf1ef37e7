"""Suite 0 key management: key transfer (AES key wrap) and the per-key scope of counters.

Key transfer: the Security setup method 2 ``global_key_transfer`` (class 64; Blue Book
DLMS UA 1000-1 / IEC 62056-6-2 §4.4.7) takes an array of ``key_data`` structures
``{key_id enum, key_wrapped octet-string}``; suite 0 wraps each 128-bit key with the master
key (KEK) by the AES key wrap of RFC 3394 (Green Book, security suite 0: AES-128 key wrap).

Scope: a GCM IV (system title ‖ invocation counter, Green Book) must never repeat under one
*encryption key* (NIST SP 800-38D §8). A sender's counter therefore belongs to the pair
(its system title, the encryption key), and so do the receivers' replay floors: a new key
makes every counter value fresh again, while a key that comes back finds its old counter
(the names carry a one-way check value of the key, never the key). :func:`send_counter` and
:func:`replay_counters` build them with those names; the association endpoints use the same
names when a key transfer replaces the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import IntEnum
from typing import Final

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from ..errors import AuthError
from ..security_state import (
    DEFAULT_BLOCK,
    DLMS_INVOCATION_COUNTER_LIMIT,
    ReplayFloors,
    SendCounter,
    StateStore,
)
from .axdr import Data, DataType
from .cosem import CosemAccessError, DataAccessResult
from .obis import Obis
from .security import KEY_LENGTH, SYSTEM_TITLE_LENGTH, InvocationCounters

__all__ = [
    "GLOBAL_KEY_TRANSFER_METHOD",
    "SECURITY_SETUP_OBIS",
    "WRAPPED_KEY_LENGTH",
    "KeyId",
    "counters_for_new_key",
    "key_check_value",
    "key_transfer_parameter",
    "parse_key_transfer",
    "replay_counters",
    "replay_namespace",
    "send_counter",
    "send_counter_name",
    "unwrap_key",
    "wrap_key",
]

#: Security setup (class 64) method 2, global_key_transfer (Blue Book, IEC 62056-6-2 §4.4.7).
GLOBAL_KEY_TRANSFER_METHOD: Final = 2
#: The management Security setup, 0-0:43.0.0.255 (specs/cosem/management.yaml).
SECURITY_SETUP_OBIS: Final = Obis(0, 0, 43, 0, 0, 255)
#: RFC 3394 §2.2.1: the wrap of n 64-bit blocks is n + 1 blocks; 16-byte keys wrap to 24.
WRAPPED_KEY_LENGTH: Final = KEY_LENGTH + 8
#: Domain label of the key check value (a public name of a key, this project's choice).
_CHECK_LABEL: Final = b"smartmeter_proto dlms key scope v1"
_CHECK_BYTES: Final = 8


class KeyId(IntEnum):
    """key_id of key_data (Blue Book Security setup, global_key_transfer)."""

    GLOBAL_UNICAST_ENCRYPTION = 0
    GLOBAL_BROADCAST_ENCRYPTION = 1
    AUTHENTICATION = 2
    MASTER = 3


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """AES key wrap (RFC 3394 §2.2.1) of a 16-byte ``key`` under the master key ``kek``."""
    _check_key("master key", kek)
    _check_key("key", key)
    return aes_key_wrap(kek, key)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3394 §2.2.2 unwrap; raises AuthError if the integrity check (§2.2.3) fails."""
    _check_key("master key", kek)
    if len(wrapped) != WRAPPED_KEY_LENGTH:
        raise AuthError(
            f"dlms key transfer: a wrapped key is {WRAPPED_KEY_LENGTH} bytes, got {len(wrapped)}"
        )
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap:
        raise AuthError(
            "dlms key transfer: the wrapped key does not unwrap under the master key"
        ) from None


def _check_key(name: str, key: bytes) -> None:
    if len(key) != KEY_LENGTH:  # the length only: a key never goes into a message
        raise ValueError(f"{name} must be {KEY_LENGTH} bytes for suite 0, got {len(key)}")


def key_transfer_parameter(kek: bytes, keys: Mapping[KeyId, bytes]) -> Data:
    """The global_key_transfer parameter: ``array of key_data {key_id, wrapped key}``."""
    if not keys:
        raise ValueError("give at least one key to transfer")
    return Data(
        DataType.ARRAY,
        tuple(
            Data(
                DataType.STRUCTURE,
                (Data(DataType.ENUM, int(key_id)), Data(DataType.OCTET_STRING, wrap_key(kek, key))),
            )
            for key_id, key in sorted(keys.items())
        ),
    )


def parse_key_transfer(parameter: Data | None, kek: bytes) -> dict[KeyId, bytes]:
    """The keys of a global_key_transfer parameter, unwrapped; all or nothing.

    A parameter that is not an array of ``{enum, octet-string}`` raises CosemAccessError
    TYPE_UNMATCHED; a key id given twice or an unknown id, OTHER_REASON; a key that does not
    unwrap, AuthError.
    """
    if (
        parameter is None
        or parameter.type != DataType.ARRAY
        or not isinstance(parameter.value, tuple)
        or not parameter.value
    ):
        raise CosemAccessError(
            DataAccessResult.TYPE_UNMATCHED,
            "global_key_transfer takes a non-empty array of key_data",
        )
    wrapped: dict[KeyId, bytes] = {}
    for item in parameter.value:
        fields = item.value
        if (
            item.type != DataType.STRUCTURE
            or not isinstance(fields, tuple)
            or len(fields) != 2
            or fields[0].type != DataType.ENUM
            or not isinstance(fields[0].value, int)
            or fields[1].type != DataType.OCTET_STRING
            or not isinstance(fields[1].value, bytes)
        ):
            raise CosemAccessError(
                DataAccessResult.TYPE_UNMATCHED,
                "key_data is a structure {key_id enum, key_wrapped octets}",
            )
        raw_id = fields[0].value
        if raw_id not in tuple(KeyId) or KeyId(raw_id) in wrapped:
            raise CosemAccessError(
                DataAccessResult.OTHER_REASON, f"key_id {raw_id} unknown or given twice"
            )
        wrapped[KeyId(raw_id)] = fields[1].value
    return {key_id: unwrap_key(kek, blob) for key_id, blob in wrapped.items()}


def key_check_value(ek: bytes) -> str:
    """A public name of an encryption key: SHA-256 over a label and the key, 8 bytes in hex.

    One-way, so it can sit in a state file or a log; never AES_K(0), the GHASH key.
    """
    _check_key("encryption key", ek)
    return hashlib.sha256(_CHECK_LABEL + bytes(ek)).digest()[:_CHECK_BYTES].hex()


def _title(system_title: bytes) -> str:
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise ValueError(
            f"system title must be {SYSTEM_TITLE_LENGTH} bytes, got {len(system_title)}"
        )
    return bytes(system_title).hex()


def send_counter_name(system_title: bytes, ek: bytes) -> str:
    """The state name of the invocation counter of ``system_title`` under ``ek``."""
    return f"dlms/{_title(system_title)}/{key_check_value(ek)}/ic"


def send_counter(
    store: StateStore,
    system_title: bytes,
    ek: bytes,
    *,
    limit: int = DLMS_INVOCATION_COUNTER_LIMIT,
    block: int = DEFAULT_BLOCK,
) -> SendCounter:
    """The invocation counter the sender ``system_title`` uses under ``ek`` (first value 1)."""
    return SendCounter(store, send_counter_name(system_title, ek), limit=limit, block=block)


def replay_namespace(own_system_title: bytes, ek: bytes) -> str:
    """The ReplayFloors namespace of the receiver ``own_system_title`` under ``ek``."""
    return f"dlms/{_title(own_system_title)}/{key_check_value(ek)}/rx"


def replay_counters(
    store: StateStore, own_system_title: bytes, ek: bytes, *, window: int = 0, durable: bool = True
) -> InvocationCounters:
    """The replay window of the receiver ``own_system_title`` under ``ek``, kept in ``store``."""
    floors = ReplayFloors(store, replay_namespace(own_system_title, ek), durable=durable)
    return InvocationCounters(window, floors=floors)


def counters_for_new_key(
    counters: InvocationCounters, own_system_title: bytes, ek: bytes
) -> InvocationCounters:
    """The replay window that replaces ``counters`` when the encryption key becomes ``ek``:
    the same window and store, the floors of the new key (traffic under the old key no longer
    verifies, so its floors have nothing left to guard)."""
    floors = counters.floors
    if floors is None:
        return InvocationCounters(counters.window)
    return InvocationCounters(
        counters.window,
        floors=ReplayFloors(
            floors.store, replay_namespace(own_system_title, ek), durable=floors.durable
        ),
    )

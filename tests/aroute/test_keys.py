"""Suite 0 key management (``smartmeter_proto.aroute.keys``).

Vector: RFC 3394 §4.1, "Wrap 128 bits of Key Data with a 128-bit KEK".
"""

from __future__ import annotations

import pytest

from smartmeter_proto.aroute.axdr import Data, DataType
from smartmeter_proto.aroute.cosem import CosemAccessError, DataAccessResult
from smartmeter_proto.aroute.keys import (
    KeyId,
    key_check_value,
    key_transfer_parameter,
    parse_key_transfer,
    replay_counters,
    replay_namespace,
    send_counter,
    send_counter_name,
    unwrap_key,
    wrap_key,
)
from smartmeter_proto.errors import AuthError
from smartmeter_proto.security_state import MemoryStateStore

KEK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
WRAPPED = bytes.fromhex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
TITLE = bytes.fromhex("4D4D4D0000BC614E")


def test_rfc3394_section_4_1_vector() -> None:
    assert wrap_key(KEK, KEY) == WRAPPED
    assert unwrap_key(KEK, WRAPPED) == KEY


def test_a_key_that_does_not_unwrap_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="does not unwrap") as refused:
        unwrap_key(bytes(16), WRAPPED)
    assert KEY.hex() not in str(refused.value).lower()
    tampered = bytearray(WRAPPED)
    tampered[5] ^= 1
    with pytest.raises(AuthError, match="does not unwrap"):
        unwrap_key(KEK, bytes(tampered))
    with pytest.raises(AuthError, match="24 bytes"):
        unwrap_key(KEK, WRAPPED[:16])
    with pytest.raises(ValueError, match="16 bytes"):
        wrap_key(KEK[:8], KEY)


def test_key_transfer_parameter_round_trips_through_the_wire_structure() -> None:
    new_ak = bytes(range(16, 32))
    parameter = key_transfer_parameter(
        KEK, {KeyId.AUTHENTICATION: new_ak, KeyId.GLOBAL_UNICAST_ENCRYPTION: KEY}
    )
    assert parameter == Data(
        DataType.ARRAY,
        (
            Data(
                DataType.STRUCTURE, (Data(DataType.ENUM, 0), Data(DataType.OCTET_STRING, WRAPPED))
            ),
            Data(
                DataType.STRUCTURE,
                (Data(DataType.ENUM, 2), Data(DataType.OCTET_STRING, wrap_key(KEK, new_ak))),
            ),
        ),
    )
    assert parse_key_transfer(parameter, KEK) == {
        KeyId.GLOBAL_UNICAST_ENCRYPTION: KEY,
        KeyId.AUTHENTICATION: new_ak,
    }


def _key_data(key_id: int, wrapped: bytes = WRAPPED) -> Data:
    return Data(
        DataType.STRUCTURE, (Data(DataType.ENUM, key_id), Data(DataType.OCTET_STRING, wrapped))
    )


@pytest.mark.parametrize(
    ("parameter", "result"),
    [
        (None, DataAccessResult.TYPE_UNMATCHED),
        (Data(DataType.ARRAY, ()), DataAccessResult.TYPE_UNMATCHED),
        (Data(DataType.OCTET_STRING, WRAPPED), DataAccessResult.TYPE_UNMATCHED),
        (
            Data(
                DataType.ARRAY,
                (
                    Data(
                        DataType.STRUCTURE,
                        (Data(DataType.UNSIGNED, 0), Data(DataType.OCTET_STRING, WRAPPED)),
                    ),
                ),
            ),
            DataAccessResult.TYPE_UNMATCHED,
        ),
        (Data(DataType.ARRAY, (_key_data(0), _key_data(0))), DataAccessResult.OTHER_REASON),
        (Data(DataType.ARRAY, (_key_data(7),)), DataAccessResult.OTHER_REASON),
    ],
)
def test_malformed_key_transfers_are_refused_whole(
    parameter: Data | None, result: DataAccessResult
) -> None:
    with pytest.raises(CosemAccessError) as refused:
        parse_key_transfer(parameter, KEK)
    assert refused.value.result == result


def test_counter_and_floor_names_carry_a_one_way_check_value() -> None:
    check = key_check_value(KEY)
    assert len(check) == 16
    assert check != key_check_value(KEK)
    assert KEY.hex() not in check
    assert send_counter_name(TITLE, KEY) == f"dlms/{TITLE.hex()}/{check}/ic"
    assert replay_namespace(TITLE, KEY) == f"dlms/{TITLE.hex()}/{check}/rx"
    store = MemoryStateStore()
    assert send_counter(store, TITLE, KEY).next() == 1
    assert store.read(send_counter_name(TITLE, KEY)) == 1 + 1024  # a block reserved first
    window = replay_counters(store, TITLE, KEY, window=8)
    window.accept(b"CLIENT01", 5)
    assert store.read(f"{replay_namespace(TITLE, KEY)}:{b'CLIENT01'.hex()}") == 5
    with pytest.raises(ValueError, match="8 bytes"):
        send_counter_name(TITLE[:4], KEY)

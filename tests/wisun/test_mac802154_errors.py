"""``mac802154.unprotect``: what a wire frame says is a DecodeError, never a ValueError.

The two frames are the fuzzer's (``fuzz/lowpan_frame.py``): a 2006 data frame with
security level 1 and no source address, and a 2015 beacon with the frame counter
suppressed, handed to ``unprotect`` with a zero key.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from smartmeter_proto.errors import DecodeError
from smartmeter_proto.wisun.radio import mac802154 as mac
from smartmeter_proto.wisun.radio.mac802154 import AuxSecurityHeader

KEY = bytes(16)
SENDER = bytes.fromhex("ACDE480000000001")


def test_no_source_address_for_the_nonce_is_a_decode_error() -> None:
    frame = mac.decode(bytes.fromhex("4912842143020000"))
    with pytest.raises(DecodeError, match="source address") as err:
        mac.unprotect(frame, KEY)
    assert err.value.layer == mac.LAYER
    assert err.value.offset == 3  # the auxiliary security header


def test_suppressed_frame_counter_is_a_decode_error() -> None:
    frame = mac.decode(bytes.fromhex("1823a6"))
    with pytest.raises(DecodeError, match="frame counter suppressed") as err:
        mac.unprotect(frame, KEY, src_ext=SENDER)
    assert err.value.offset == 2


def test_unsecured_and_level_0_frames_are_decode_errors() -> None:
    plain = mac.data_frame(src_addr=SENDER, dst_addr=None, pan_id=1, seq=0, payload=b"x")
    with pytest.raises(DecodeError, match="not secured"):
        mac.unprotect(mac.decode(plain.encode()), KEY)
    level_0 = replace(plain, security=AuxSecurityHeader(0, frame_counter=1))
    with pytest.raises(DecodeError, match="level 0"):
        mac.unprotect(mac.decode(level_0.encode()), KEY)


def test_oversized_payload_is_a_decode_error() -> None:
    frame = mac.data_frame(src_addr=SENDER, dst_addr=None, pan_id=1, seq=0, payload=b"")
    frame = replace(frame, security=AuxSecurityHeader(5, frame_counter=1), payload=bytes(70_000))
    with pytest.raises(DecodeError, match="L=2"):
        mac.unprotect(mac.decode(frame.encode()), KEY)


def test_caller_mistakes_stay_value_errors() -> None:
    frame = mac.decode(bytes.fromhex("4912842143020000"))
    with pytest.raises(ValueError, match="src_ext must be 8 bytes"):
        mac.unprotect(frame, KEY, src_ext=b"\x00\x01")

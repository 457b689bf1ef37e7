"""Shared test keys and fixtures.

The A-route keys are the DLMS UA Green Book worked example (security suite 0: EK, AK and
the server system title 4D4D4D0000BC614E), so a test that ciphers with them can be
checked against the published ciphertexts. The B-route credentials are the ROHM
application note's placeholders (an ID of 32 hex digits, a 12-character password), never
a real meter's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pytest

from smartmeter_proto.sim.clock import VirtualClock

#: Green Book suite 0 example: global unicast encryption key, authentication key, title.
GREEN_BOOK_EK: Final = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
GREEN_BOOK_AK: Final = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
GREEN_BOOK_TITLE: Final = bytes.fromhex("4D4D4D0000BC614E")
#: B-route ID and password placeholders of ROHM's application note.
SAMPLE_RBID: Final = "00112233445566778899AABBCCDDEEFF"
SAMPLE_PASSWORD: Final = "0123456789AB"


@dataclass(frozen=True, slots=True)
class SuiteZeroKeys:
    ek: bytes
    ak: bytes
    system_title: bytes


@pytest.fixture
def green_book_keys() -> SuiteZeroKeys:
    """The Green Book's suite 0 keys and server system title."""
    return SuiteZeroKeys(GREEN_BOOK_EK, GREEN_BOOK_AK, GREEN_BOOK_TITLE)


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A clock at 1 000 000 s that moves only when a test (or a runner) moves it."""
    return VirtualClock(1_000_000.0)

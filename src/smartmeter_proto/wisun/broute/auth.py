"""B-route credentials as EAP-PSK sees them: identities and the pre-shared key.

What public sources show:

* ID_S, the meter's EAP-PSK server identity, is ``"SM"`` followed by the
  32-character B-route ID (34 bytes): a real meter's PSK-1 in the [WSUHA]
  capture (tests/wisun/test_skstack.py) carries
  ``SM0000009902170000000000000194BFAD``; Microchip's G3 LBP constants give the
  ARIB ID_S size as 34 bytes too.
* The dongle turns the host's password into the PSK itself (SKSETPWD, J11
  0x0054); how is defined by TTC JJ-300.10 and is not in any public source we
  could read. Neither is the exact ID_P (ARIB G3 sizes it at 36 bytes).

So this module names the mappings the emulators use and keeps them in one
place. ID_S keeps the real size and shape but only the public part of the ID
(zeros, then the last 8 characters that the meter beacons as its pairing ID),
so the B-route ID never reaches a capture or the dongle's output. ID_P is the
32-character B-route ID, and the PSK is a *stand-in*
derivation (SHA-256 over a label and the password, first 16 bytes). Our
dongle and meter emulators agree on it, so their EAP-PSK is real and fails on
a wrong password exactly where RFC 4764 says; it is not the key a field meter
would derive, and nothing outside the emulators needs it (a real dongle keeps
its PSK inside).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["MeterCredentials", "meter_identity", "peer_identity", "psk_from_password"]

#: [WSUHA] PSK-1 ID_S: "SM" + the 32-character B-route ID.
_ID_S_PREFIX: Final = b"SM"
#: The pairing ID is the B-route ID's last 8 characters (EPANDESC PairID, [WSUHA]).
_PAIRING_ID_LEN: Final = 8
_STAND_IN_LABEL: Final = b"smartmeter_proto emulator B-route PSK"
PSK_LEN: Final = 16


def peer_identity(rbid: str) -> bytes:
    """ID_P for a B-route ID (the ID's ASCII bytes; see the module note)."""
    return rbid.encode("ascii")


def meter_identity(rbid: str) -> bytes:
    """The emulated meter's ID_S: ``"SM"``, 24 zeros, the pairing ID (34 bytes; see above)."""
    public = rbid[-_PAIRING_ID_LEN:].rjust(len(rbid), "0")
    return _ID_S_PREFIX + public.encode("ascii")


def psk_from_password(password: str) -> bytes:
    """The emulators' stand-in password-to-PSK mapping (16 bytes; not JJ-300.10's)."""
    return hashlib.sha256(_STAND_IN_LABEL + b"\x00" + password.encode("ascii")).digest()[:PSK_LEN]


class MeterCredentials:
    """The meter's own B-route ID and password, as its PANA agent checks them; never shown."""

    __slots__ = ("_id_p", "_psk", "identity")

    def __init__(self, rbid: str, password: str) -> None:
        self.identity = meter_identity(rbid)
        self._id_p = peer_identity(rbid)
        self._psk = psk_from_password(password)

    def psk_for(self, id_p: bytes) -> bytes | None:
        """The PSK for a peer identity, or None for an unknown peer."""
        return self._psk if hmac.compare_digest(id_p, self._id_p) else None

    def refusing(self) -> MeterCredentials:
        """The same meter holding a different key: the next exchange fails at MAC_P."""
        other = object.__new__(MeterCredentials)
        other.identity = self.identity
        other._id_p = self._id_p
        other._psk = hashlib.sha256(b"refuse" + self._psk).digest()[:PSK_LEN]
        return other

    def __repr__(self) -> str:
        return "MeterCredentials(****)"

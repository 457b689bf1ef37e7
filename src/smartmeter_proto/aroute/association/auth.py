"""Authentication of a COSEM association: LLS and HLS-GMAC (IEC 62056-5-3, Green Book 9.2).

The mechanism enum, the server's check of the AARQ's mechanism and secret, and the
pass 3/4 values of HLS-GMAC (f(StoC) from the client, f(CtoS) from the server) carried by
reply_to_HLS_authentication of the current Association LN object.
"""

from __future__ import annotations

import hmac
from enum import Enum

from ..acse import AARQ, AcseServiceUserDiagnostic, MechanismName
from ..apdu import ActionRequestNormal, CosemMethodDescriptor, InvokeIdAndPriority
from ..axdr import Data, DataType
from ..obis import Obis
from ..security import gmac_auth_value

__all__ = [
    "ASSOCIATION_LN_CLASS",
    "ASSOCIATION_LN_OBIS",
    "CHALLENGE_MAX",
    "CHALLENGE_MIN",
    "HLS_METHOD",
    "REPLY_TO_HLS_METHOD",
    "Authentication",
    "check_mechanism",
    "hls_reply_request",
]

#: Blue Book: the current Association LN object is 0.0.40.0.0.255; its method 1 is
#: reply_to_HLS_authentication (class 15).
ASSOCIATION_LN_OBIS = Obis(0, 0, 40, 0, 0, 255)
ASSOCIATION_LN_CLASS = 15
REPLY_TO_HLS_METHOD = 1
HLS_METHOD = CosemMethodDescriptor(
    ASSOCIATION_LN_CLASS, bytes(ASSOCIATION_LN_OBIS), REPLY_TO_HLS_METHOD
)

#: Green Book 9.2 (HLS): the challenges CtoS and StoC are 8 to 64 octets.
CHALLENGE_MIN, CHALLENGE_MAX = 8, 64

_D = AcseServiceUserDiagnostic


class Authentication(Enum):
    """The association's authentication mechanism (Green Book 9.2)."""

    LOWEST = MechanismName.LOWEST
    LLS = MechanismName.LOW
    HLS_GMAC = MechanismName.HIGH_GMAC


def check_mechanism(aarq: AARQ, want: Authentication, password: bytes | None) -> int | None:
    """The AARE diagnostic refusing ``aarq`` for a server using ``want``, or None if it passes.

    LLS compares the password in constant time; HLS only checks the CtoS length and the
    calling AP title here, the challenge itself is answered after the AARE.
    """
    mech = aarq.mechanism_name
    if want is Authentication.LOWEST:
        return None if mech in (None, MechanismName.LOWEST) else _D.AUTHENTICATION_FAILURE
    if mech is None:
        return _D.AUTHENTICATION_MECHANISM_NAME_REQUIRED
    if mech != want.value:
        return _D.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
    secret = aarq.calling_authentication_value
    if secret is None:
        return _D.AUTHENTICATION_FAILURE
    if want is Authentication.LLS:
        ok = password is not None and hmac.compare_digest(secret, password)
        return None if ok else _D.AUTHENTICATION_FAILURE
    if not CHALLENGE_MIN <= len(secret) <= CHALLENGE_MAX:
        return _D.AUTHENTICATION_FAILURE
    if aarq.calling_ap_title is None or len(aarq.calling_ap_title) != 8:
        return _D.CALLING_AP_TITLE_NOT_RECOGNIZED
    return None


def hls_reply_request(
    stoc: bytes,
    invoke: InvokeIdAndPriority,
    *,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
) -> bytes:
    """Pass 3 of HLS-GMAC: the ACTION reply_to_HLS_authentication carrying f(StoC)."""
    f_stoc = gmac_auth_value(
        stoc, system_title=system_title, invocation_counter=invocation_counter, ek=ek, ak=ak
    )
    return ActionRequestNormal(HLS_METHOD, Data(DataType.OCTET_STRING, f_stoc), invoke).encode()

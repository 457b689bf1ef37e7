"""SKSTACK IP host side (sans-IO): the command builders.

Each function returns the exact bytes of one command to write to a Wi-SUN
B-route dongle (ROHM BP35A1/BP35C0/BP35C2, Tessera RL7023). Commands end CRLF
except SKSENDTO, whose raw data follows its header with no line end; credential
commands come back as :class:`SecretLine` so their repr masks the secret. Model
differences come from :mod:`~smartmeter_proto.wisun.skstack.dialects`. Sources: ROHM "BP35A1 command
reference manual" section 3 as cited by smdn/Smdn.Net.SkStackIP. Re-exported by
:mod:`smartmeter_proto.wisun.skstack`.
"""

from __future__ import annotations

import re
from ipaddress import IPv6Address
from typing import Final

from .dialects import Dialect, PayloadMode, get_dialect
from .messages import CRLF, ECHONET_LITE_PORT, SecretLine

__all__ = [
    "MAX_SKSENDTO_DATA",
    "format_ipv6",
    "ropt",
    "skappver",
    "skinfo",
    "skjoin",
    "skll64",
    "skreset",
    "skscan",
    "sksendto",
    "sksetpwd",
    "sksetrbid",
    "sksreg",
    "sktable",
    "skterm",
    "skver",
    "wopt",
]

#: Largest SKSENDTO data, 0x04D0 bytes (BP35A1 reference 3.7 as enforced by Smdn.Net.SkStackIP).
MAX_SKSENDTO_DATA: Final = 0x04D0
#: SKSETPWD takes 1..32 characters, its length in hex first (BP35A1 reference 3.16).
_PWD_MIN: Final = 1
_PWD_MAX: Final = 32
#: SKSETRBID takes exactly 32 characters (BP35A1 reference 3.17).
_RBID_LEN: Final = 32


# --------------------------------------------------------------------------- builders
def format_ipv6(address: str | IPv6Address) -> str:
    """The 39-character upper-case form SKSTACK prints and expects (``FE80:0000:...``)."""
    try:
        parsed = IPv6Address(address)
    except ValueError:
        raise ValueError(f"not an IPv6 address: {address!r}") from None
    if parsed.scope_id is not None:
        raise ValueError("SKSTACK addresses carry no scope id")
    return parsed.exploded.upper()


def _cmd(*parts: str) -> bytes:
    return " ".join(parts).encode("ascii") + CRLF


def _ascii_secret(value: str | bytes, what: str) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if not text.isascii() or not text.isprintable() or " " in text:
        raise ValueError(f"{what} must be printable ASCII without spaces")
    return text


def skver() -> bytes:
    """``SKVER``: answered by EVER."""
    return _cmd("SKVER")


def skappver() -> bytes:
    """``SKAPPVER``: answered by EAPPVER."""
    return _cmd("SKAPPVER")


def skinfo() -> bytes:
    """``SKINFO``: answered by EINFO."""
    return _cmd("SKINFO")


def skreset() -> bytes:
    """``SKRESET``: reset the protocol stack (registers back to defaults)."""
    return _cmd("SKRESET")


def skterm() -> bytes:
    """``SKTERM``: end the PANA session (EVENT 27 or 28 follows)."""
    return _cmd("SKTERM")


def sksetpwd(password: str | bytes) -> SecretLine:
    """``SKSETPWD <LEN> <PWD>``: B-route password, length in hex (``C`` for 12)."""
    text = _ascii_secret(password, "the B-route password")
    if not _PWD_MIN <= len(text) <= _PWD_MAX:
        raise ValueError(f"the B-route password must be {_PWD_MIN}..{_PWD_MAX} characters")
    return SecretLine(_cmd("SKSETPWD", f"{len(text):X}", text))


def sksetrbid(rbid: str | bytes) -> SecretLine:
    """``SKSETRBID <ID>``: the 32-character B-route ID."""
    text = _ascii_secret(rbid, "the B-route ID")
    if len(text) != _RBID_LEN:
        raise ValueError(f"the B-route ID must be {_RBID_LEN} characters")
    return SecretLine(_cmd("SKSETRBID", text))


def sksreg(register: str, value: str | int) -> bytes:
    """``SKSREG <SREG> <VAL>``; an int value is printed in hex (S2 channel, S3 PAN ID 4 digits)."""
    if not re.fullmatch(r"S[0-9A-Fa-f]{1,2}", register):
        raise ValueError(f"not a register name: {register!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("register values are unsigned")
        text = f"{value:04X}" if register.upper() in ("S3", "S03") else f"{value:X}"
    else:
        text = value
    if not text or not text.isascii() or not text.isalnum():
        raise ValueError(f"register value must be an ASCII token: {text!r}")
    return _cmd("SKSREG", register, text)


def skscan(
    mode: int = 2,
    channel_mask: int = 0xFFFFFFFF,
    duration: int = 6,
    *,
    side: int = 0,
    dialect: str | Dialect = "bp35a1",
) -> bytes:
    """``SKSCAN <MODE> <MASK> <DURATION> [<SIDE>]``: mode 0 ED, 2 active with IE, 3 without."""
    if mode not in (0, 2, 3) or not 0 <= channel_mask <= 0xFFFFFFFF or not 0 <= duration <= 14:
        raise ValueError("SKSCAN takes mode 0/2/3, a 32-bit channel mask and duration 0..14")
    parts = ["SKSCAN", f"{mode:X}", f"{channel_mask:08X}", f"{duration:X}"]
    if get_dialect(dialect).skscan_side:
        parts.append(f"{side:X}")
    return _cmd(*parts)


def skll64(mac: bytes) -> bytes:
    """``SKLL64 <ADDR64>``: answered by the link-local IPv6 address of that MAC."""
    if len(mac) != 8:
        raise ValueError("SKLL64 takes an 8-byte MAC address")
    return _cmd("SKLL64", mac.hex().upper())


def skjoin(ipv6: str | IPv6Address) -> bytes:
    """``SKJOIN <IPADDR>``: PANA authentication; EVENT 25 (or 24) ends it."""
    return _cmd("SKJOIN", format_ipv6(ipv6))


def sksendto(
    ipv6: str | IPv6Address,
    payload: bytes,
    *,
    port: int = ECHONET_LITE_PORT,
    handle: int = 1,
    sec: int = 1,
    side: int = 0,
    dialect: str | Dialect = "bp35a1",
) -> bytes:
    """``SKSENDTO <HANDLE> <IPADDR> <PORT> <SEC> [<SIDE>] <DATALEN> <DATA>``, DATA raw, no CRLF."""
    if not 1 <= len(payload) <= MAX_SKSENDTO_DATA:
        raise ValueError(f"SKSENDTO data must be 1..{MAX_SKSENDTO_DATA} bytes")
    if not 1 <= handle <= 6 or not 0 <= port <= 0xFFFF or sec not in (0, 1, 2):
        raise ValueError("SKSENDTO takes handle 1..6, a 16-bit port and sec 0/1/2")
    parts = ["SKSENDTO", f"{handle:X}", format_ipv6(ipv6), f"{port:04X}", f"{sec:X}"]
    if get_dialect(dialect).sksendto_side:
        parts.append(f"{side:X}")
    parts.append(f"{len(payload):04X}")
    return " ".join(parts).encode("ascii") + b" " + payload


def sktable(mode: int) -> bytes:
    """``SKTABLE <MODE>``: 1 address list, 2 neighbour cache, E ports (BP35A1 reference 3.26)."""
    if not 0 <= mode <= 0xF:
        raise ValueError("SKTABLE mode is one hex digit")
    return _cmd("SKTABLE", f"{mode:X}")


def ropt() -> bytes:
    """``ROPT``: read the ERXUDP data mode (answer ``OK 00``/``OK 01`` ends with CR only)."""
    return _cmd("ROPT")


def wopt(mode: PayloadMode) -> bytes:
    """``WOPT <MODE>``: 00 binary, 01 hex ERXUDP data; stored in flash (limited writes)."""
    return _cmd("WOPT", f"{PayloadMode(mode):02X}")

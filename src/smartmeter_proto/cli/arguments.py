"""Argument types that validate what a user types, for ``argparse`` ``type=``.

Each raises :class:`argparse.ArgumentTypeError` with a message that says what was expected,
so the parser reports ``error: ... argument --x: ...`` on one line with exit 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = [
    "UDP_PORT_MAX",
    "endpoint",
    "hex_bytes",
    "hex_of_size",
    "int_at_least",
    "interval",
    "non_negative_float",
    "output_path",
    "positive_float",
    "positive_int",
]

UDP_PORT_MAX: Final = 65535


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text[:40]!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, a time scale, a speed)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text[:40]!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text[:40]!r}")
    return value


def interval(minimum: float) -> Callable[[str], float]:
    """A number of seconds no smaller than ``minimum``."""

    def parse(text: str) -> float:
        value = _number(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g} s, not {text[:40]!r}")
        return value

    return parse


def positive_int(text: str) -> int:
    """A whole number > 0."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text[:40]!r}")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number no smaller than ``minimum`` (a count, a fleet size)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text[:40]!r}")
        return value

    return parse


def output_path(text: str) -> Path:
    """A file the command will write: checked before any work starts, created only later.

    Its folder must exist and be writable, and the path must not be a folder itself, so a
    long run never ends on "cannot write the result".
    """
    if not text:
        raise argparse.ArgumentTypeError("empty file name")
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is a folder, not a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(
            f"cannot write {text[:80]!r}: no folder {str(folder)[:80]!r}"
        )
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK | os.X_OK)
    if not writable:
        raise argparse.ArgumentTypeError(f"cannot write {text[:80]!r}: permission denied")
    return path


def hex_bytes(text: str) -> bytes:
    """Hexadecimal bytes; spaces, colons and a leading 0x are allowed."""
    cleaned = "".join(text.split()).replace(":", "")
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    bad = next((c for c in cleaned if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise argparse.ArgumentTypeError(f"not hexadecimal (found {bad!r})")
    if len(cleaned) % 2:
        raise argparse.ArgumentTypeError(
            f"odd number of hex digits ({len(cleaned)}): a byte is two digits"
        )
    return bytes.fromhex(cleaned)


def hex_of_size(size: int, what: str) -> Callable[[str], bytes]:
    """Exactly ``size`` bytes in hex (a key, an IV, a system title). Never echoes the value."""

    def parse(text: str) -> bytes:
        try:
            value = hex_bytes(text)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{what} must be {size} bytes in hex: {exc}") from None
        if len(value) != size:
            raise argparse.ArgumentTypeError(
                f"{what} must be {size} bytes in hex ({2 * size} digits), got {len(value)} bytes"
            )
        return value

    return parse


def _port(text: str, whole: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port is not a number in {whole[:60]!r}") from None
    if not 0 <= port <= UDP_PORT_MAX:
        raise argparse.ArgumentTypeError(f"port must be 0..{UDP_PORT_MAX} in {whole[:60]!r}")
    return port


def _host(text: str, whole: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError(f"no host in {whole[:60]!r}")
    literal = text.split("%", 1)[0]
    try:
        ipaddress.ip_address(literal)
        return text
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(text, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        raise argparse.ArgumentTypeError(f"cannot resolve host {text[:60]!r}") from None
    return str(infos[0][4][0])


def endpoint(default_port: int) -> Callable[[str], tuple[str, int]]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or ``V6`` to a checked ``(address, port)``.

    Names are resolved here, so an unknown host or a port out of range is reported before
    any work starts.
    """

    def parse(text: str) -> tuple[str, int]:
        text = text.strip()
        if text.startswith("["):
            host, closed, rest = text[1:].partition("]")
            if not closed or (rest and not rest.startswith(":")):
                raise argparse.ArgumentTypeError(f"expected [ADDRESS]:PORT, not {text[:60]!r}")
            port = _port(rest[1:], text) if rest else default_port
        elif text.count(":") == 1:
            host, port_text = text.split(":")
            port = _port(port_text, text)
        else:
            host, port = text, default_port
        return _host(host, text), port

    return parse

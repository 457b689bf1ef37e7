"""The library's error model: one root, split by who broke the rules.

``DecodeError`` is the only exception a decoder raises on malformed input; it
names the protocol layer and the byte offset where decoding stopped.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "DecodeError",
    "EncodeError",
    "ProtocolError",
    "SessionError",
    "TransportError",
]


class ProtocolError(Exception):
    """Root of every error the library raises on purpose."""


class DecodeError(ProtocolError):
    """Malformed input: ``layer`` names the wire format, ``offset`` the byte where it broke."""

    def __init__(self, layer: str, offset: int, reason: str) -> None:
        self.layer = layer
        self.offset = offset
        self.reason = reason
        super().__init__(f"{layer}: {reason} (at byte offset {offset})")

    def __reduce__(self) -> tuple[type[DecodeError], tuple[str, int, str]]:
        return (type(self), (self.layer, self.offset, self.reason))


class EncodeError(ProtocolError):
    """A value cannot be put on the wire (out of range, wrong size, unknown field)."""


class SessionError(ProtocolError):
    """The peer broke the protocol's exchange rules, or a session was used in the wrong state.

    ``hint`` carries the protocol's own reply code where one applies (for
    ECHONET Lite, the SNA service code the peer answered with).
    """

    def __init__(self, message: str, *, hint: int | None = None) -> None:
        self.hint = hint
        super().__init__(message)


class TransportError(ProtocolError):
    """The link below the protocol failed (socket, serial line, modem)."""


class AuthError(ProtocolError):
    """Authentication failed. The message never contains the credentials."""

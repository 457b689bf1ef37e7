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
    """Malformed input: ``layer`` names the wire format, ``offset`` the byte where it broke.

    The three are the error's ``args``, and its text (``layer: reason (at byte offset
    N)``) is made only when it is shown: a decoder that keeps errors instead of raising
    them (a typed ECHONET Lite frame whose EDTs break their rules keeps one per EDT)
    builds each with ``DecodeError.__new__(DecodeError, layer, offset, reason)``, one
    allocation.
    """

    args: tuple[str, int, str]

    def __init__(self, layer: str, offset: int, reason: str) -> None:
        super().__init__(layer, offset, reason)

    @property
    def layer(self) -> str:
        return self.args[0]

    @property
    def offset(self) -> int:
        return self.args[1]

    @property
    def reason(self) -> str:
        return self.args[2]

    def __str__(self) -> str:
        layer, offset, reason = self.args
        return f"{layer}: {reason} (at byte offset {offset})"


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

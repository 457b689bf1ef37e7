"""What the association layer knows about one request, for objects that must care.

A limiter or valve reservation may change the meter only through an
authenticated, fresh command: the server association fills this in from the
security layer (tag verified, invocation counter accepted) and hands it to
objects that implement :class:`ContextualObject`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from .axdr import Data

__all__ = ["ContextualObject", "RequestContext"]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """``authenticated``: the APDU came ciphered with a verified tag; ``fresh``: its
    invocation counter was new; ``now``: the meter's clock; ``client_system_title``."""

    authenticated: bool
    fresh: bool
    now: datetime
    client_system_title: bytes | None = None


@runtime_checkable
class ContextualObject(Protocol):
    """A COSEM object whose set/action depends on how the request arrived."""

    def set_in(self, context: RequestContext, index: int, value: Data) -> None: ...

    def invoke_in(
        self, context: RequestContext, index: int, parameter: Data | None
    ) -> Data | None: ...

"""The ``decode`` command: bytes of any layer of the library to readable text or JSON.

:mod:`.command` registers it, :mod:`.input` reads its input; the other modules decode one
layer each.
"""

from . import command
from .command import *  # noqa: F403

__all__: list[str] = []
__all__ += command.__all__

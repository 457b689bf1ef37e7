"""SKSTACK IP, the line-oriented ASCII command set of Wi-SUN B-route dongles (host side).

:mod:`.commands` builds the commands, :mod:`.messages` decodes the dongle's lines,
:mod:`.parser` splits the serial stream into them, :mod:`.dialects` holds the model
differences (specs/skstack/), :mod:`.device` is the dongle's side (what the emulator
parses and answers).
"""

from . import commands, messages, parser
from .commands import *  # noqa: F403
from .dialects import Dialect, PayloadMode, get_dialect
from .messages import *  # noqa: F403
from .parser import *  # noqa: F403

__all__ = ["Dialect", "PayloadMode", "get_dialect"]
__all__ += commands.__all__
__all__ += messages.__all__
__all__ += parser.__all__

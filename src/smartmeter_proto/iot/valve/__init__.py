"""Gas and water valve commands over the IoT route: open, close, reservations, acknowledgements.

:mod:`.machine` holds the head-end and meter sides, :mod:`.transitions` the table,
:mod:`.events` what they report, :mod:`.channel` the sealed command channel.
"""

from . import channel, events, machine
from .channel import *  # noqa: F403
from .events import *  # noqa: F403
from .machine import *  # noqa: F403

__all__: list[str] = []
__all__ += machine.__all__
__all__ += channel.__all__
__all__ += events.__all__

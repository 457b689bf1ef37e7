"""ROHM J11, the binary UART protocol of Wi-SUN B-route modules (host side).

:mod:`.frame` is the frame codec (header, checksums, command codes), :mod:`.messages`
the typed requests, responses and notifications, :mod:`.layout` the data layouts they
share.
"""

from . import frame, messages
from .frame import *  # noqa: F403
from .messages import *  # noqa: F403

__all__: list[str] = []
__all__ += frame.__all__
__all__ += messages.__all__

"""The G3-PLC modem host interface: ADP and LBP requests, confirms and indications.

:mod:`.messages` encodes and decodes them, :mod:`.codes` holds the codes, :mod:`.fields` the
field layouts.
"""

from . import codes, messages
from .codes import *  # noqa: F403
from .messages import *  # noqa: F403

__all__: list[str] = []
__all__ += messages.__all__
__all__ += codes.__all__

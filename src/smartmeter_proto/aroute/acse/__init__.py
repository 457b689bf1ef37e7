"""ACSE (ISO 8650, IEC 62056-5-3 Green Book 9.4): AARQ, AARE, RLRQ, RLRE of the A-route.

:mod:`.apdus` encodes and decodes them, :mod:`.ber` is their BER, :mod:`.initiate` the
xDLMS InitiateRequest/Response they carry.
"""

from . import apdus, initiate
from .apdus import *  # noqa: F403
from .initiate import *  # noqa: F403

__all__: list[str] = []
__all__ += apdus.__all__
__all__ += initiate.__all__

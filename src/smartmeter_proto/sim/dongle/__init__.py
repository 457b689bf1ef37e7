"""Simulated Wi-SUN B-route dongles: SKSTACK IP dialects and ROHM J11 in front of a meter.

:mod:`.emulator` is the shared sans-IO core and fault plan, :mod:`.skstack` and :mod:`.j11`
the two host protocols, :mod:`.pana` the meter's side of PANA, :mod:`.factory` the
emulator of a model by name.
"""

from .emulator import (
    SESSION_LIFETIME_S,
    DongleEmulator,
    Fault,
    FaultPlan,
    Masked,
    RadioIdentity,
)
from .factory import MODELS, make_dongle

__all__ = [
    "MODELS",
    "SESSION_LIFETIME_S",
    "DongleEmulator",
    "Fault",
    "FaultPlan",
    "Masked",
    "RadioIdentity",
    "make_dongle",
]

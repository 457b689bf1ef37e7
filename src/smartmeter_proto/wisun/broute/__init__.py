"""The B-route link over a Wi-SUN dongle, sans-IO: reset, credentials, scan, join, session.

:mod:`.machine` is the state machine (:class:`BRoute`), :mod:`.transitions` its table,
:mod:`.events` what it reports, :mod:`.driver` the contract of a dongle driver with
:mod:`.skstack` and :mod:`.j11` the two drivers, :mod:`.auth` the meter's credentials.
"""

from . import events, machine
from .driver import MAX_PAYLOAD, BRouteState, PanInfo
from .events import *  # noqa: F403
from .machine import *  # noqa: F403

__all__ = ["MAX_PAYLOAD", "BRouteState", "PanInfo"]
__all__ += events.__all__
__all__ += machine.__all__

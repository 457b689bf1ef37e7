"""Back-fill of the IoT route: every reading of every meter, gaps found and filled, losses named.

:mod:`.machine` is the sans-IO back-fill machine, :mod:`.records` its readings and events,
:mod:`.ranges` the sets of sequence numbers, :mod:`.store` what it keeps per meter.
"""

from . import machine, records, store
from .machine import *  # noqa: F403
from .records import *  # noqa: F403
from .store import *  # noqa: F403

__all__: list[str] = []
__all__ += machine.__all__
__all__ += records.__all__
__all__ += store.__all__

# Former names, kept for one release (not in __all__: iot.frame has the wire messages).
from .machine import Collector as Collector  # noqa: E402
from .records import BackfillRequest as BackfillRequest  # noqa: E402
from .records import Reading as Reading  # noqa: E402

"""The xDLMS APDUs of the A-route (IEC 62056-5-3, Green Book 9.3).

GET, SET, ACTION, data-notification and exceptions.

:mod:`.codec` decodes any APDU by its tag; :mod:`.get`, :mod:`.set`, :mod:`.action` and
:mod:`.notify` hold the services, :mod:`.common` what they share.
"""

from . import action, codec, common, get, notify, set
from .action import *  # noqa: F403
from .codec import *  # noqa: F403
from .common import *  # noqa: F403
from .get import *  # noqa: F403
from .notify import *  # noqa: F403
from .set import *  # noqa: F403

__all__: list[str] = []
__all__ += codec.__all__
__all__ += action.__all__
__all__ += common.__all__
__all__ += get.__all__
__all__ += notify.__all__
__all__ += set.__all__

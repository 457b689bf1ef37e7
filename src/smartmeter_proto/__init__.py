"""smartmeter_proto: a sans-IO protocol stack for Japanese smart metering.

Subpackages: :mod:`~smartmeter_proto.echonet` (ECHONET Lite core),
:mod:`~smartmeter_proto.transport` (asyncio adapters), :mod:`~smartmeter_proto.sim`
(emulators), :mod:`~smartmeter_proto.wisun` (B-route dongle codecs).
"""

from .errors import AuthError, DecodeError, EncodeError, ProtocolError, SessionError, TransportError
from .moved_modules import install as _install_moved_modules

_install_moved_modules()

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "DecodeError",
    "EncodeError",
    "ProtocolError",
    "SessionError",
    "TransportError",
    "__version__",
]

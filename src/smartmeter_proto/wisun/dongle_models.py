"""The Wi-SUN B-route dongle models the library drives and emulates: one list, one default.

Each model name maps to what speaks behind it: an SKSTACK IP dialect of
specs/skstack/*.yaml (``bp35c0`` is the ``bp35c2`` dialect's alias, ``rl7023`` the
B-route-only RL7023 Stick-D/IPS) or ``j11`` (ROHM J11 binary protocol, application
note 63AN028E). The CLI, the emulator factory (:func:`smartmeter_proto.sim.dongle.make_dongle`)
and the conformance targets all take their choices from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "DEFAULT_DONGLE_MODEL",
    "DONGLE_MODELS",
    "J11_FAMILY",
    "dongle_model",
    "dongle_model_names",
]

#: The family name of ROHM's J11 binary protocol (not an SKSTACK dialect).
J11_FAMILY: Final = "j11"

#: Model name -> SKSTACK dialect (specs/skstack/*.yaml) or :data:`J11_FAMILY`.
DONGLE_MODELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "bp35a1": "bp35a1",  # specs/skstack/bp35a1.yaml
        "bp35c0": "bp35c2",  # specs/skstack/bp35c2.yaml, alias of bp35c2
        "bp35c2": "bp35c2",
        "rl7023": "rl7023-ips",  # specs/skstack/rl7023.yaml: the B-route-only Stick-D/IPS
        "rl7023-ips": "rl7023-ips",
        "rl7023-dss": "rl7023-dss",
        "j11": J11_FAMILY,  # ROHM J11 (63AN028E)
    }
)

#: The model used when none is named: the BP35C2 dialect (also inside RATOC RS-WSUHA-P).
DEFAULT_DONGLE_MODEL: Final = "bp35c2"


def dongle_model_names() -> tuple[str, ...]:
    """Every model name :data:`DONGLE_MODELS` accepts, sorted (for ``choices=``)."""
    return tuple(sorted(DONGLE_MODELS))


def dongle_model(name: str) -> str:
    """``name`` normalised to a key of :data:`DONGLE_MODELS`; ValueError names the known ones."""
    model = name.strip().lower()
    if model not in DONGLE_MODELS:
        raise ValueError(
            f"unknown dongle model {name[:40]!r}; known: {', '.join(dongle_model_names())}"
        )
    return model

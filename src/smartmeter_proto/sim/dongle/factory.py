"""The dongle emulator of a model by name: SKSTACK IP dialects or ROHM's J11 protocol."""

from __future__ import annotations

from typing import Any, Final

from ...echonet.node import Node
from ...wisun.dongle_models import DONGLE_MODELS
from ..radio import CaptureSink
from .emulator import DongleEmulator, RadioIdentity
from .j11 import J11Dongle
from .skstack import SkstackDongle

__all__ = ["MODELS", "make_dongle"]

#: Model names accepted by :func:`make_dongle` and the dialect or family behind each
#: (the library's one list, :data:`smartmeter_proto.wisun.dongle_models.DONGLE_MODELS`).
MODELS: Final = DONGLE_MODELS


def make_dongle(
    model: str,
    *,
    rbid: str,
    password: str,
    node: Node | None = None,
    now: float,
    seed: int = 1,
    radio: RadioIdentity | None = None,
    capture: CaptureSink | None = None,
    **options: Any,
) -> DongleEmulator:
    """A dongle of ``model`` (see :data:`MODELS`) in front of ``node`` (default: a meter).

    ``rbid``/``password`` are the meter's B-route credentials; ``seed`` draws
    the radio identity unless ``radio`` fixes it; ``capture`` receives every
    802.15.4 frame put on air (see :func:`~.radio.pcap_capture`). ``options`` go to the model
    class (SKSTACK: ``payload_mode``, ``min_scan_duration``; J11: ``min_scan_duration``).
    """
    family = MODELS.get(model.lower())
    if family is None:
        raise ValueError(f"unknown dongle model {model!r}; known: {', '.join(sorted(MODELS))}")
    common: dict[str, Any] = {
        "rbid": rbid,
        "password": password,
        "node": node,
        "now": now,
        "seed": seed,
        "radio": radio,
        "capture": capture,
    }
    if family == "j11":
        return J11Dongle(model.lower(), **common, **options)
    return SkstackDongle(model.lower(), family, **common, **options)

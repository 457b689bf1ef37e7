"""``smartmeter-proto decode iot HEX|- [--key K --iv IV [--meter-id ID]] [--json]``.

A bare IoT-route frame is deterministic CBOR that ``specs/iot/frame.cddl`` accepts whole
(:func:`smartmeter_proto.iot.frame.decode`). A protected one is a COSE_Encrypt0 (CBOR tag
16, RFC 9052 section 5.2) that needs the meter's uplink key and Common IV to be opened:
without ``--key`` it is refused (exit 2) with its kid and Partial IV in the message; a tag
that does not verify, or a frame naming another meter than its key, exits 1. The meter id
defaults to the one the kid names (``<meter id>/up``, as ``iot.channel.ChannelKeys`` forms it).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import math
from typing import Any, Final

from ...errors import DecodeError
from ...iot import cose
from ...iot import frame as iot_frame
from ...iot.channel import ChannelKeys, open_frame
from ...iot.frame import Route
from ..arguments import hex_of_size
from ..failure import fail
from .input import add_input_arguments, print_tree, run_decoder

__all__ = ["decode_iot", "iot_message_json", "register"]

_KEY_LEN: Final = 16
_IV_LEN: Final = 13
#: CBOR initial bytes of tag 16 (COSE_Encrypt0) and tag 17 (COSE_Mac0), RFC 8949 §3.4.
_CBOR_TAG_BASE: Final = 0xC0
_COSE_TAGS: Final = {
    _CBOR_TAG_BASE + cose.TAG_ENCRYPT0: "COSE_Encrypt0",
    _CBOR_TAG_BASE + cose.TAG_MAC0: "COSE_Mac0",
}
_UPLINK_SUFFIX: Final = "/up"
_ROUTES: Final = {"a-iot": Route.A_IOT, "b-iot": Route.B_IOT}


def register(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``iot`` to ``decode``'s protocols."""
    parser = protocols.add_parser("iot", help="an IoT-route frame (CBOR), bare or COSE-protected")
    add_input_arguments(parser, "the frame")
    parser.add_argument(
        "--key",
        type=hex_of_size(_KEY_LEN, "--key (uplink key)"),
        help="the meter's uplink key (16 bytes, hex) to open a COSE_Encrypt0 frame",
    )
    parser.add_argument(
        "--iv",
        type=hex_of_size(_IV_LEN, "--iv (Common IV)"),
        help="the meter's Common IV (13 bytes, hex), with --key",
    )
    parser.add_argument(
        "--meter-id", help="meter id the key belongs to (default: the one the frame's kid names)"
    )
    parser.add_argument(
        "--route",
        choices=sorted(_ROUTES),
        default="a-iot",
        help="route bound into the external AAD (default a-iot)",
    )
    parser.set_defaults(handler=_handler)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        return {name: _plain(v) for name, v in fields if v is not None and v != ()}
    if isinstance(value, enum.IntFlag):
        return {"value": int(value), "names": [f.name for f in type(value) if f in value]}
    if isinstance(value, enum.Enum):
        return {"value": value.value, "name": value.name}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    return value


def iot_message_json(message: iot_frame.Message) -> dict[str, Any]:
    """The JSON form of one decoded message: its type, then its fields (absent ones left out)."""
    return {"type": type(message).__name__, **_plain(message)}


def _refuse_without_key(data: bytes, name: str) -> None:
    """A protected frame and no key: say which frame, and what is needed to open it."""
    message = cose.decode_encrypt0(data) if name == "COSE_Encrypt0" else cose.decode_mac0(data)
    kid = "none" if message.kid is None else repr(message.kid.decode("utf-8", "replace"))
    partial_iv = message.partial_iv
    piv = "none" if partial_iv is None else str(cose.seq_from_partial_iv(partial_iv))
    raise DecodeError(
        cose.LAYER,
        0,
        f"{name} frame (kid {kid}, Partial IV {piv}): a key is needed to open it: "
        "give --key and --iv",
    )


def _meter_id_of(data: bytes) -> str:
    kid = cose.decode_encrypt0(data).kid or b""
    text = kid.decode("utf-8", "replace")
    if not text.endswith(_UPLINK_SUFFIX):
        fail(f"the frame's kid {text[:40]!r} names no meter: give --meter-id")
    return text.removesuffix(_UPLINK_SUFFIX)


def decode_iot(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """One frame to JSON; a protected frame is opened with ``args.key``/``args.iv``."""
    name = _COSE_TAGS.get(data[0]) if data else None
    if name is None:
        return iot_message_json(iot_frame.decode(data))
    if args.key is None:
        _refuse_without_key(data, name)
    if name != "COSE_Encrypt0":
        fail(f"{name} frames are not opened here (uplink frames are COSE_Encrypt0)")
    meter_id = args.meter_id or _meter_id_of(data)
    # The downlink key is not used to open an uplink frame; it only has to differ.
    unused_downlink = bytes(_KEY_LEN) if any(args.key) else b"\x01" * _KEY_LEN
    keys = ChannelKeys(meter_id, args.key, unused_downlink, args.iv)
    return iot_message_json(open_frame(keys, data, route=_ROUTES[args.route]))


def _handler(args: argparse.Namespace) -> int:
    if (args.key is None) != (args.iv is None):
        fail("give both --key (16 bytes) and --iv (13 bytes), in hex")
    return run_decoder(args, decode_iot, print_tree)

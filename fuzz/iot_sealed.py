"""Fuzz what sits behind AES-CCM on the IoT route: mutated plaintext, sealed with the real keys.

The input is a plaintext IoT-route frame (deterministic CBOR, ``iot.frame``) behind one
option byte. It is sealed as COSE Encrypt0 (AES-CCM-16-64-128) under the meter's key, kid,
Common IV and external AAD, exactly as ``iot.channel.SecureChannel.seal`` does, so every
mutant passes authentication and the replay check and reaches the frame decoder and the
state machine behind it:

- option bit 0 clear: uplink, to a fresh ``iot.headend.HeadEnd`` (``receive_datagram``,
  then ``handle_timeout``): nothing a meter sends may raise.
- option bit 0 set: downlink, to a fresh ``sim.iotmeter.SimulatedIotMeter`` (its
  ``SecureChannel`` on the meter side, then its back-fill store): never raises.

Option bits 1-7 pick the message counter (Partial IV) of the sealed frame.

Input: option byte, plaintext frame. Run ``python fuzz/iot_sealed.py`` (atheris) or
``--fallback``. Seeds: ``python -c "import iot_sealed as m; m.write_seeds()"`` in fuzz/.
"""

from __future__ import annotations

import sys
from typing import Any

from _harness import CORPUS_DIR, Target, main

METER_ID = "gas-0001"  # the meter of the iot_frame corpus
UPLINK_KEY = bytes(range(16))
DOWNLINK_KEY = bytes(range(16, 32))
COMMON_IV = bytes(range(1, 14))
T0 = 1_777_561_200.0
HEADEND = ("headend", 0)
METER = ("meter", 0)


def keys() -> Any:
    from smartmeter_proto.iot.channel import ChannelKeys

    return ChannelKeys(METER_ID, UPLINK_KEY, DOWNLINK_KEY, COMMON_IV)


def seal(plain: bytes, *, uplink: bool, seq: int) -> bytes:
    """``plain`` as the channel seals it (SecureChannel.seal, without the frame encoder)."""
    from smartmeter_proto.iot import cose
    from smartmeter_proto.iot.channel import ROUTE_TAGS
    from smartmeter_proto.iot.frame import Route

    k = keys()
    return cose.protect_encrypt0(
        plain,
        key=k.uplink_key if uplink else k.downlink_key,
        kid=k.uplink_kid if uplink else k.downlink_kid,
        common_iv=k.common_iv,
        seq=seq,
        external_aad=cose.build_external_aad(METER_ID, ROUTE_TAGS[Route.A_IOT], seq),
    )


def build() -> Target:
    from smartmeter_proto.iot.frame import MeterKind
    from smartmeter_proto.iot.headend import HeadEnd
    from smartmeter_proto.security_state import MemoryStateStore
    from smartmeter_proto.sim.iotmeter import SimulatedIotMeter

    def call(data: bytes) -> object:
        if not data:
            return None
        option, plain = data[0], data[1:]
        seq = 1 + (option >> 1)
        if option & 1 == 0:
            headend = HeadEnd([keys()], state_store=MemoryStateStore())
            events = headend.receive_datagram(seal(plain, uplink=True, seq=seq), METER, T0)
            headend.datagrams_to_send()
            events += headend.handle_timeout(T0 + 86_400)
            headend.datagrams_to_send()
            return events, dict(headend.dropped)
        meter = SimulatedIotMeter(
            keys(), MeterKind.GAS, headend=HEADEND, start=T0, state_store=MemoryStateStore()
        )
        meter.handle_timeout(T0 + 7200)  # four readings in store, to be asked for
        meter.datagrams_to_send()
        meter.receive_datagram(seal(plain, uplink=False, seq=seq), HEADEND, T0 + 7200)
        return meter.datagrams_to_send(), meter.dropped

    return Target("iot_sealed", call, (), "bytes", prefix=1)


def seeds() -> dict[str, bytes]:
    """The iot_frame corpus both ways, and the frames of a simulated meter and head end."""
    from smartmeter_proto.iot import frame as iot_frame
    from smartmeter_proto.iot.channel import open_frame
    from smartmeter_proto.iot.frame import MeterKind
    from smartmeter_proto.iot.headend import HeadEnd
    from smartmeter_proto.security_state import MemoryStateStore
    from smartmeter_proto.sim.iotmeter import SimulatedIotMeter

    out: dict[str, bytes] = {}
    for path in sorted((CORPUS_DIR / "iot_frame").iterdir()):
        out[f"up-{path.name}"] = b"\x00" + path.read_bytes()
        out[f"down-{path.name}"] = b"\x01" + path.read_bytes()
    meter = SimulatedIotMeter(
        keys(), MeterKind.GAS, headend=HEADEND, start=T0, state_store=MemoryStateStore()
    )
    headend = HeadEnd([keys()], state_store=MemoryStateStore())
    meter.handle_timeout(T0 + 1800)
    meter.handle_timeout(T0 + 7200)  # the readings between are lost below: a gap to fill
    ups = meter.datagrams_to_send()
    for index, (sealed, _to) in enumerate(ups[:1] + ups[-1:]):
        out[f"up-reading-{index}"] = b"\x00" + iot_frame.encode(open_frame(keys(), sealed))
        headend.receive_datagram(sealed, METER, T0 + 7200)
    downs = headend.datagrams_to_send()
    for index, (sealed, _to) in enumerate(downs):
        opened = _open_downlink(sealed)
        out[f"down-backfill-request-{index}"] = b"\x01" + opened
        meter.receive_datagram(sealed, HEADEND, T0 + 7200)
    for index, (sealed, _to) in enumerate(meter.datagrams_to_send()):
        out[f"up-backfill-response-{index}"] = b"\x00" + iot_frame.encode(
            open_frame(keys(), sealed)
        )
    out["edge-empty-up"] = b"\x00"
    out["edge-empty-down"] = b"\x01"
    return out


def _open_downlink(sealed: bytes) -> bytes:
    from smartmeter_proto.iot import cose

    k = keys()
    return cose.open_encrypt0(
        sealed,
        keys_by_kid={k.downlink_kid: k.downlink_key},
        common_iv=k.common_iv,
        external_aad_for=lambda _kid, seq: cose.build_external_aad(METER_ID, "A-IoT", seq),
    ).payload


def write_seeds() -> None:
    folder = CORPUS_DIR / "iot_sealed"
    folder.mkdir(exist_ok=True)
    for name, data in seeds().items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    sys.exit(main("iot_sealed"))

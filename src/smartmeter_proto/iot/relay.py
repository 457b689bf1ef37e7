"""B-route(IoT): IoT frames carried in ECHONET Lite format-2 frames, relayed by the smart meter.

On the B-route(IoT), a gas or water meter reaches the head-end through the
electricity smart meter. Its protected IoT frames travel as the EDATA of
ECHONET Lite format-2 ("arbitrary message", EHD2 0x82, Part II §3.2.1.2)
frames, so they stay distinguishable from the regular format-1 B-route traffic
on the same network, and the smart meter forwards them without opening them:
the COSE protection runs end to end between the IoT meter and the head-end.

* :class:`Format2Carrier` wraps any IoT endpoint (a simulated meter, the
  head-end) so that what it sends and receives travels in format-2 frames.
* :class:`IotRelay` is the smart meter's side: a :class:`~..echonet.node.Node`
  format-2 handler that forwards meters' frames to the head-end and the
  head-end's frames to the meter a frame's kid names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from typing import Any

from ..echonet import frame as el_frame
from ..echonet.frame import ArbitraryFrame
from ..errors import DecodeError
from .channel import SecureChannel, meter_of_kid

__all__ = ["Format2Carrier", "IotRelay"]

Address = Hashable


class Format2Carrier:
    """Puts an IoT endpoint's datagrams into ECHONET Lite format-2 frames, and takes them out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._tid = 0
        self.dropped = 0

    def receive_datagram(self, data: bytes, source: Address, now: float) -> Any:
        try:
            decoded = el_frame.decode(data)
        except DecodeError:
            self.dropped += 1
            return []
        if not isinstance(decoded, ArbitraryFrame):
            self.dropped += 1  # format-1 ECHONET Lite traffic is not ours
            return []
        return self.inner.receive_datagram(decoded.edata, source, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out = []
        for data, dest in self.inner.datagrams_to_send():
            self._tid = (self._tid + 1) & 0xFFFF
            out.append((el_frame.encode(ArbitraryFrame(self._tid, data)), dest))
        return out

    def next_deadline(self) -> float | None:
        deadline: float | None = self.inner.next_deadline()
        return deadline

    def handle_timeout(self, now: float) -> Any:
        return self.inner.handle_timeout(now)


class IotRelay:
    """The smart meter's relay: format-2 frames from meters up, from the head-end down.

    It learns each IoT meter's address from the frames the meter sends (by the
    kid, which names the meter) and never opens the COSE envelope.
    """

    def __init__(self, headend: Address) -> None:
        self.headend = headend
        self._meters: dict[str, Address] = {}
        #: Frames relayed up and down, and refused ones by reason.
        self.counters: Counter[str] = Counter()

    def __call__(
        self, frame: ArbitraryFrame, source: Address, now: float
    ) -> list[tuple[bytes, Address]]:
        meter_id = meter_of_kid(SecureChannel.kid_of(frame.edata))
        if meter_id is None:
            self.counters["not an IoT frame"] += 1
            return []
        if source == self.headend:
            dest = self._meters.get(meter_id)
            if dest is None:
                self.counters["meter not heard yet"] += 1
                return []
            self.counters["down"] += 1
        else:
            self._meters[meter_id] = source
            dest = self.headend
            self.counters["up"] += 1
        return [(el_frame.encode(ArbitraryFrame(frame.tid, frame.edata)), dest)]

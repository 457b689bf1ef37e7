"""The simulated 920 MHz link between a dongle and the meter (sans-IO).

Every UDP datagram that crosses the link, PANA (port 716) and ECHONET Lite
(port 3610) alike, becomes IEEE 802.15.4 data frames carrying 6LoWPAN-compressed
IPv6 (RFC 6282, fragmented per RFC 4944 when it does not fit) with link-local
addresses derived from the two MACs, and is reassembled and checked on the
other side by the same codecs a sniffer would use. A capture sink, when given,
receives every frame as it goes on air, so a session can be written to pcap.

Frames carry no MAC-layer security: the B-route's MAC key schedule is not in
any public source we could read, so the capture shows the payload as it was
before link encryption (a decrypted view), which keeps it dissectable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, Final

from ..errors import DecodeError
from ..wisun.radio.lowpan import Reassembler, UdpDatagram, udp_frames
from ..wisun.radio.pcap import LINKTYPE_IEEE802_15_4_NOFCS, PcapWriter

__all__ = ["FRAME_MTU", "CaptureSink", "RadioLink", "pcap_capture"]

#: Largest MAC frame the simulated link sends, FCS included. The B-route's 802.15.4g PHY
#: allows longer frames; 255 keeps PANA and ECHONET Lite frames whole (synthetic choice).
FRAME_MTU: Final = 255

#: Receives (time, frame without FCS) for every frame put on air.
CaptureSink = Callable[[float, bytes], None]


def pcap_capture(file: BinaryIO) -> CaptureSink:
    """A sink writing every frame to ``file`` as pcap (IEEE 802.15.4 without FCS, type 230).

    Each record is flushed at once, so the file can be opened while a session runs.
    """
    writer = PcapWriter(file, LINKTYPE_IEEE802_15_4_NOFCS)
    file.flush()

    def write(timestamp: float, frame: bytes) -> None:
        writer.write(timestamp, frame)
        file.flush()

    return write


class RadioLink:
    """Both ends of one dongle-meter link: frames out, datagrams back in."""

    def __init__(
        self,
        *,
        dongle_mac: bytes,
        meter_mac: bytes,
        pan_id: int,
        capture: CaptureSink | None = None,
        mtu: int = FRAME_MTU,
    ) -> None:
        self.dongle_mac = dongle_mac
        self.meter_mac = meter_mac
        self.pan_id = pan_id
        self.capture = capture
        self._mtu = mtu
        self._seq = {True: 0, False: 0}
        self._tag = {True: 0, False: 0}
        self._reassembler = {True: Reassembler(), False: Reassembler()}
        self.frames_sent = 0
        self.frames_dropped = 0

    def transmit(
        self,
        payload: bytes,
        now: float,
        *,
        from_meter: bool,
        port: int,
        multicast: bool = False,
    ) -> list[bytes]:
        """The frames that carry one UDP datagram (``port`` both ends); captured at ``now``."""
        src, dst = (
            (self.meter_mac, self.dongle_mac)
            if from_meter
            else (
                self.dongle_mac,
                self.meter_mac,
            )
        )
        self._tag[from_meter] = (self._tag[from_meter] + 1) & 0xFFFF
        frames = udp_frames(
            src_mac=src,
            dst_mac=None if multicast else dst,
            pan_id=self.pan_id,
            src_port=port,
            dst_port=port,
            payload=payload,
            seq=self._seq[from_meter],
            tag=self._tag[from_meter],
            mtu=self._mtu,
        )
        self._seq[from_meter] = (self._seq[from_meter] + len(frames)) & 0xFF
        self.frames_sent += len(frames)
        if self.capture is not None:
            for frame in frames:
                self.capture(now, frame)
        return frames

    def receive(self, frames: list[bytes], now: float, *, at_meter: bool) -> UdpDatagram | None:
        """Frames arriving at one end; the datagram once whole (bad frames are dropped)."""
        reassembler = self._reassembler[at_meter]
        datagram: UdpDatagram | None = None
        for frame in frames:
            try:
                got = reassembler.feed(frame, now)
            except DecodeError:
                self.frames_dropped += 1
                continue
            if got is not None:
                datagram = got
        return datagram

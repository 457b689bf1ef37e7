"""The conformance runner's hold on one node: the client, the address under test, raw probes.

A :class:`Probe` taps the client's received datagrams so checks can see answers the
session would drop, and sends raw frames to the address under test only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ..echonet import frame as _frame
from ..echonet.events import Address, RequestDone
from ..echonet.frame import EOJ, ESV, Frame
from ..echonet.properties import PropertyValue
from ..echonet.specs import SUPER_CLASS, ClassSpec, load_class
from ..errors import DecodeError, ProtocolError
from ..transport.udp import EchonetClient

__all__ = ["RAW_TID_BASE", "Exchange", "Probe", "Target"]

#: Class group 0x0E: profile objects (node profile), which have no super-class rules.
PROFILE_GROUP: Final = 0x0E

#: Raw probes use TIDs from here up, away from the session's (which count up from 1);
#: 0xA5C3 has distinct, non-zero bytes, so a device that drops or swaps a byte is caught.
RAW_TID_BASE: Final = 0xA5C3


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request's outcome: the finished request or why it failed, and how long it took."""

    done: RequestDone | None
    error: str | None
    elapsed_s: float


def _same_host(source: Address, host: str) -> bool:
    if not isinstance(source, tuple) or not source:
        return False
    seen = str(source[0])
    try:
        return ipaddress.ip_address(seen.split("%", 1)[0]) == ipaddress.ip_address(
            host.split("%", 1)[0]
        )
    except ValueError:
        return seen == host


class Probe:
    """The client, the one address under test, and a tap on the datagrams that arrive.

    The tap wraps the client's :class:`SessionDriver` ``feed`` (every transport
    hands received datagrams to it) so checks can see answers the session
    would drop (a wrong TID, an unexpected service); raw frames leave through
    the driver's own sender, to ``address`` only.
    """

    def __init__(
        self,
        client: EchonetClient,
        address: tuple[str, int],
        *,
        clock: Callable[[], float] = time.monotonic,
        allow_writes: bool = False,
    ) -> None:
        self.client = client
        self.address = address
        #: Whether checks may write a value other than the one just read (``--allow-writes``).
        self.allow_writes = allow_writes
        #: Reads the answer times the response-time check judges.
        self.clock = clock
        self._inbox: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self._tid = RAW_TID_BASE
        self._installed = False
        self._remove_tap: Callable[[], None] = lambda: None

    @property
    def timeout(self) -> float:
        """Seconds to wait for one answer: the session's own timeout."""
        return self.client.driver.session.timeout

    def install(self) -> None:
        def tap(data: bytes, source: Address) -> None:
            if _same_host(source, self.address[0]):
                self._inbox.put_nowait((data, time.monotonic()))

        self._remove_tap = self.client.driver.add_tap(tap)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            self._remove_tap()
            self._installed = False

    # ----------------------------------------------------------- session side
    async def _timed(self, target: Target | None, call: Awaitable[RequestDone]) -> Exchange:
        start = self.clock()
        try:
            done = await call
        except ProtocolError as exc:
            return Exchange(None, str(exc), self.clock() - start)
        elapsed = self.clock() - start
        if target is not None:
            target.timings.append(elapsed)
        return Exchange(done, None, elapsed)

    async def get(self, target: Target, epcs: Iterable[int]) -> Exchange:
        return await self._timed(target, self.client.get(self.address, target.eoj, epcs))

    async def set(self, target: Target, values: Mapping[int, bytes]) -> Exchange:
        return await self._timed(target, self.client.set(self.address, target.eoj, values))

    def drain_notifications(self) -> None:
        queue = self.client.driver.notifications
        while not queue.empty():
            queue.get_nowait()

    async def wait_notification(self, eoj: EOJ, epc: int, edt: bytes, wait: float) -> bool:
        """Whether an INF from ``eoj`` carrying ``epc`` = ``edt`` arrives within ``wait`` s."""
        queue = self.client.driver.notifications
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                note = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return False
            if not _same_host(note.source, self.address[0]) or note.frame.seoj != eoj:
                continue
            if any(p.epc == epc and p.edt == edt for p in note.frame.properties):
                return True
        return False

    # ---------------------------------------------------------------- raw side
    def next_tid(self) -> int:
        tid = self._tid
        self._tid = RAW_TID_BASE + (self._tid + 1 - RAW_TID_BASE) % 0x1000
        return tid

    async def send_raw(self, data: bytes) -> None:
        """Send one datagram to the address under test (never anywhere else)."""
        await self.client.driver.send_raw(data, self.address)

    async def raw_request(
        self, request: Frame, answers: frozenset[ESV], *, wait: float, first: bool = True
    ) -> list[Frame]:
        """Send ``request`` and collect decodable answers with an ESV in ``answers``.

        Answers match by source host and by SEOJ class, not by TID, so a
        wrong TID is seen. ``first`` returns at the first one; otherwise the
        whole ``wait`` window is listened to.
        """
        while not self._inbox.empty():
            self._inbox.get_nowait()
        await self.send_raw(_frame.encode(request))
        found: list[Frame] = []
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data, _ = await asyncio.wait_for(self._inbox.get(), remaining)
            except TimeoutError:
                break
            try:
                decoded = _frame.decode(data)
            except DecodeError:
                continue
            if (
                isinstance(decoded, Frame)
                and decoded.esv in answers
                and decoded.seoj.class_id == request.deoj.class_id
            ):
                found.append(decoded)
                if first:
                    break
        return found


@dataclass(slots=True)
class Target:
    """An object under test; checks fill ``maps`` and ``timings`` as they go."""

    eoj: EOJ
    spec: ClassSpec | None
    maps: dict[int, tuple[int, ...]] | None = None
    timings: list[float] = field(default_factory=list)
    #: Values of the 0x9F map as read by ``object.get_map_readable``.
    values: dict[int, PropertyValue] | None = None

    @classmethod
    def of(cls, eoj: EOJ) -> Target:
        spec = load_class(eoj.class_id)
        if spec is None and eoj.class_group != PROFILE_GROUP:
            spec = load_class(SUPER_CLASS)  # unknown device class: the super class rules
        return cls(eoj, spec)

"""Sans-IO ECHONET Lite node (device side): objects, property access, announcements.

A :class:`Node` holds :class:`DeviceObject` instances and its node profile
(0x0EF001, Part II §6.11), answers Get/SetC/SetI/SetGet/INF_REQ by the access
rules of ``specs/echonet`` (Part II §4.2.3: unknown or refused properties give
the SNA service with PDC 0, or the EDT echoed for a refused Set), announces its
instance list (0xD5) at start, and announces properties of the 0x9D map when
they change. Requests to an object the node does not hold get no answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ..errors import DecodeError
from . import frame as _frame
from .datatypes import encode_property_map
from .events import MULTICAST, Address, Event, FrameDropped, PropertyWritten
from .frame import EOJ, ESV, ArbitraryFrame, Frame, Property
from .properties import encode_property, validate_set
from .specs import ClassSpec, load_class

__all__ = [
    "INSTANCE_LIST_NOTIFICATION",
    "NODE_PROFILE",
    "NODE_PROFILE_ANY",
    "SELF_NODE_INSTANCE_LIST",
    "DeviceObject",
    "Node",
]

#: Node profile object, general node (Part II §6.11.1), and any instance (0x00: every node
#: answers a multicast Get addressed to it).
NODE_PROFILE: Final = EOJ(0x0E, 0xF0, 0x01)
NODE_PROFILE_ANY: Final = EOJ(0x0E, 0xF0, 0x00)
#: The node profile's instance lists (§6.11.1): 0xD5 announced at start, 0xD6 read by Get.
INSTANCE_LIST_NOTIFICATION: Final = 0xD5
SELF_NODE_INSTANCE_LIST: Final = 0xD6
#: Property-map EPCs every object serves (APPENDIX §2.2, Part II Annex 1).
_ANNO_MAP, _SET_MAP, _GET_MAP = 0x9D, 0x9E, 0x9F
#: Version information 0x82 of the node profile: Ver. 1.14, format 1 only (§6.11.1).
_PROFILE_VERSION: Final = bytes((0x01, 0x0E, 0x01, 0x00))
#: Class group 0x05: management/control devices, the controller 0x05FF among them.
_CONTROLLER_GROUP: Final = 0x05
#: Manufacturer code 0xFFFFFF is reserved for experiments (APPENDIX §2.2, 0x8A).
EXPERIMENTAL_MANUFACTURER: Final = b"\xff\xff\xff"


#: A handler of format-2 frames: returns the datagrams to send in answer.
ArbitraryHandler = Callable[[ArbitraryFrame, Address, float], list[tuple[bytes, Address]]]


class DeviceObject:
    """One ECHONET Lite object: a spec-checked property store.

    Subclasses (simulated devices) override :meth:`read` for live values and
    :meth:`next_deadline`/:meth:`handle_timeout` for periodic announcements.
    """

    def __init__(self, eoj: EOJ, values: Mapping[int | str, Any] | None = None) -> None:
        spec = load_class(eoj.class_id)
        if spec is None:
            raise ValueError(f"no specification for class 0x{eoj.class_id:04X}")
        self.eoj = eoj
        self.spec: ClassSpec = spec
        self._edt: dict[int, bytes] = {}
        for key, value in (values or {}).items():
            self.store(key, value)

    def _epc(self, key: int | str) -> int:
        return self.spec.epc(key) if isinstance(key, str) else key

    def store(self, key: int | str, value: Any) -> bool:
        """Set a property locally (typed value or EDT bytes); returns whether it changed."""
        epc = self._epc(key)
        edt = value if isinstance(value, bytes) else encode_property(self.spec.class_id, epc, value)
        changed = self._edt.get(epc) != edt
        self._edt[epc] = edt
        return changed

    @property
    def supported(self) -> frozenset[int]:
        """EPCs implemented: stored ones, the property maps, and :meth:`dynamic` ones."""
        return frozenset(self._edt) | self.dynamic() | {_ANNO_MAP, _SET_MAP, _GET_MAP}

    def dynamic(self) -> frozenset[int]:
        """EPCs computed on each read by a subclass."""
        return frozenset()

    def access(self, epc: int) -> frozenset[str]:
        """Operations allowed on ``epc``: the class file's, unless a subclass narrows them.

        Real devices implement a subset of what the class allows (a meter may
        refuse Set of 0x80); a subclass overrides this to say so.
        """
        prop = self.spec.properties.get(epc)
        return prop.access if prop is not None else frozenset()

    def _map(self, operation: str) -> bytes:
        return encode_property_map([e for e in self.supported if operation in self.access(e)])

    def read(self, epc: int, now: float) -> bytes | None:
        """The EDT of ``epc`` at time ``now``, or ``None`` if it cannot be read."""
        if epc == _GET_MAP:
            return self._map("get")
        if epc == _SET_MAP:
            return self._map("set")
        if epc == _ANNO_MAP:
            return self._map("anno")
        return self._edt.get(epc)

    def write(self, epc: int, edt: bytes, now: float) -> str | None:
        """Apply a Set from the network; returns why it was refused, or ``None`` if accepted."""
        if epc not in self.supported:
            return f"EPC 0x{epc:02X} is not implemented"
        if "set" not in self.access(epc):
            return f"EPC 0x{epc:02X} is not settable on this object"
        reason = validate_set(self.spec.class_id, epc, edt)
        if reason is None:
            self._edt[epc] = edt
        return reason

    def next_deadline(self) -> float | None:
        return None

    def handle_timeout(self, now: float) -> list[int]:
        """Run periodic work due at ``now``; returns EPCs to announce with an INF."""
        return []

    def announced(self, epc: int) -> bool:
        return epc in self.supported and "anno" in self.access(epc)


class Node:
    """An ECHONET Lite node: the device side of the protocol, without I/O."""

    def __init__(
        self,
        objects: Iterable[DeviceObject],
        *,
        manufacturer_code: bytes = EXPERIMENTAL_MANUFACTURER,
        unique_id: bytes = bytes(13),
        arbitrary_handler: ArbitraryHandler | None = None,
    ) -> None:
        #: Takes the node's format-2 (arbitrary message) frames, e.g. a relay for other
        #: meters' traffic (Part II §3.2.1.2: EHD2 0x82 carries application-defined EDATA).
        self.arbitrary_handler = arbitrary_handler
        self.objects: dict[EOJ, DeviceObject] = {}
        for obj in objects:
            if obj.eoj in self.objects or obj.eoj.class_group == 0x0E:
                raise ValueError(f"duplicate or profile object {obj.eoj}")
            self.objects[obj.eoj] = obj
        if len(unique_id) != 13 or len(manufacturer_code) != 3:
            raise ValueError("manufacturer_code is 3 bytes and unique_id 13 bytes")
        devices = list(self.objects)
        classes = sorted({eoj.class_id for eoj in devices})
        self.profile = DeviceObject(
            NODE_PROFILE,
            {
                "operating_status": "booting",
                "version_information": _PROFILE_VERSION,
                "identification_number": b"\xfe" + manufacturer_code + unique_id,
                "manufacturer_code": manufacturer_code,
                "number_of_self_node_instances": len(devices),
                "number_of_self_node_classes": len(classes) + 1,
                "self_node_instance_list": devices,
                "self_node_class_list": classes,
                "instance_list_notification": devices,
            },
        )
        self._instance_list = encode_property(
            NODE_PROFILE.class_id, INSTANCE_LIST_NOTIFICATION, devices
        )
        self.objects[NODE_PROFILE] = self.profile
        self._outgoing: list[tuple[bytes, Address]] = []
        self._tid = 0
        #: The controller that last sent us a request: periodic notifications go to it.
        self._controller: tuple[Address, EOJ] | None = None
        #: Frames dropped (undecodable, or not for us) and requests answered.
        self.dropped = 0
        self.answered = 0

    # --------------------------------------------------------------- public API
    def start(self, now: float) -> None:
        """Announce the instance list (0xD5) to the multicast group, as a node does at start."""
        self._send_inf(self.profile.eoj, [Property(0xD5, self._instance_list)], MULTICAST)

    def update(self, eoj: EOJ, key: int | str, value: Any, now: float) -> None:
        """Change a property locally; announce it if it is in the object's 0x9D map."""
        obj = self.objects[eoj]
        if obj.store(key, value):
            epc = obj._epc(key)
            if obj.announced(epc):
                self._announce(obj, [epc], now)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outgoing = self._outgoing, []
        return out

    def next_deadline(self) -> float | None:
        deadlines = [d for obj in self.objects.values() if (d := obj.next_deadline()) is not None]
        return min(deadlines, default=None)

    def handle_timeout(self, now: float) -> list[Event]:
        """Run the objects' periodic work; their notifications go to the last controller.

        A B-route meter sends its 30-minute reading (0xEA) as an INF to the
        HEMS controller that reads it (DEOJ 05FF01, unicast), not to the
        multicast group; with no controller known yet it multicasts.
        """
        for obj in self.objects.values():
            deadline = obj.next_deadline()
            if deadline is not None and deadline <= now:
                epcs = obj.handle_timeout(now)
                props = [Property(e, edt) for e in epcs if (edt := obj.read(e, now)) is not None]
                if not props:
                    continue
                if self._controller is None:
                    self._send_inf(obj.eoj, props, MULTICAST)
                else:
                    address, controller = self._controller
                    self._send_inf(obj.eoj, props, address, controller)
        return []

    def receive_data(self, data: bytes, source: Address, now: float) -> list[Event]:
        """The former name of :meth:`receive_datagram` (the library's endpoint contract)."""
        return self.receive_datagram(data, source, now)

    def receive_datagram(self, data: bytes, source: Address, now: float) -> list[Event]:
        """Feed one datagram; answers are queued for :meth:`datagrams_to_send`."""
        try:
            decoded = _frame.decode(data)
        except DecodeError as exc:
            self.dropped += 1
            return [FrameDropped(source, "undecodable frame", exc)]
        if not isinstance(decoded, Frame):
            if self.arbitrary_handler is None:
                self.dropped += 1
                return [FrameDropped(source, "format-2 (arbitrary) frame: no handler")]
            self._outgoing.extend(self.arbitrary_handler(decoded, source, now))
            return []
        return self.receive_frame(decoded, source, now)

    def receive_frame(self, request: Frame, source: Address, now: float) -> list[Event]:
        """Answer one decoded request frame."""
        handler = _HANDLERS.get(request.esv) if isinstance(request.esv, ESV) else None
        if handler is None:
            self.dropped += 1
            return [FrameDropped(source, f"service 0x{int(request.esv):02X} is not a request")]
        targets = self._targets(request.deoj)
        if not targets:
            self.dropped += 1
            return [FrameDropped(source, f"no object {request.deoj} on this node")]
        events: list[Event] = []
        for obj in targets:
            handler(self, obj, request, source, now, events)
        self.answered += 1
        if request.seoj.class_group == _CONTROLLER_GROUP:
            self._controller = (source, request.seoj)
        return events

    # ----------------------------------------------------------------- helpers
    def _targets(self, deoj: EOJ) -> list[DeviceObject]:
        if deoj.instance != 0:
            found = self.objects.get(deoj)
            return [found] if found is not None else []
        return [o for e, o in self.objects.items() if e.class_id == deoj.class_id]

    def _reply(
        self,
        obj: DeviceObject,
        request: Frame,
        esv: ESV,
        props: tuple[Property, ...],
        source: Address,
        get_props: tuple[Property, ...] = (),
    ) -> None:
        answer = Frame(request.tid, obj.eoj, request.seoj, esv, props, get_props)
        self._outgoing.append((_frame.encode(answer), source))

    def _read_all(
        self, obj: DeviceObject, props: tuple[Property, ...], now: float
    ) -> tuple[tuple[Property, ...], bool]:
        out = []
        ok = True
        for prop in props:
            edt = obj.read(prop.epc, now) if "get" in obj.access(prop.epc) else None
            if edt is None or prop.epc not in obj.supported:
                ok = False
                out.append(Property(prop.epc))
            else:
                out.append(Property(prop.epc, edt))
        return tuple(out), ok

    def _write_all(
        self,
        obj: DeviceObject,
        props: tuple[Property, ...],
        source: Address,
        now: float,
        events: list[Event],
    ) -> tuple[tuple[Property, ...], bool, list[int]]:
        """Apply each Set; returns the answer list, whether all were accepted, and what changed."""
        out = []
        ok = True
        changed = []
        for prop in props:
            before = obj.read(prop.epc, now) if prop.edt else None
            if not prop.edt or obj.write(prop.epc, prop.edt, now) is not None:
                ok = False
                out.append(prop)
            else:
                out.append(Property(prop.epc))
                events.append(PropertyWritten(source, int(obj.eoj), prop.epc, prop.edt))
                if before != prop.edt:
                    changed.append(prop.epc)
        # Status-change announcement: only a change of value, and only after the answer.
        return tuple(out), ok, [epc for epc in changed if obj.announced(epc)]

    def _announce(self, obj: DeviceObject, epcs: list[int], now: float) -> None:
        if not epcs:
            return
        props = [Property(epc, edt) for epc in epcs if (edt := obj.read(epc, now)) is not None]
        if props:
            self._send_inf(obj.eoj, props, MULTICAST)

    def _send_inf(
        self, seoj: EOJ, props: list[Property], dest: Address, deoj: EOJ = NODE_PROFILE
    ) -> None:
        self._tid = (self._tid + 1) & 0xFFFF
        inf = Frame(self._tid, seoj, deoj, ESV.INF, tuple(props))
        self._outgoing.append((_frame.encode(inf), dest))

    def _on_get(
        self, obj: DeviceObject, request: Frame, source: Address, now: float, events: list[Event]
    ) -> None:
        props, ok = self._read_all(obj, request.properties, now)
        self._reply(obj, request, ESV.GET_RES if ok else ESV.GET_SNA, props, source)

    def _on_inf_req(
        self, obj: DeviceObject, request: Frame, source: Address, now: float, events: list[Event]
    ) -> None:
        props, ok = self._read_all(obj, request.properties, now)
        self._reply(obj, request, ESV.INF if ok else ESV.INF_SNA, props, source)

    def _on_setc(
        self, obj: DeviceObject, request: Frame, source: Address, now: float, events: list[Event]
    ) -> None:
        props, ok, announce = self._write_all(obj, request.properties, source, now, events)
        self._reply(obj, request, ESV.SET_RES if ok else ESV.SETC_SNA, props, source)
        self._announce(obj, announce, now)

    def _on_seti(
        self, obj: DeviceObject, request: Frame, source: Address, now: float, events: list[Event]
    ) -> None:
        props, ok, announce = self._write_all(obj, request.properties, source, now, events)
        if not ok:
            self._reply(obj, request, ESV.SETI_SNA, props, source)
        self._announce(obj, announce, now)

    def _on_setget(
        self, obj: DeviceObject, request: Frame, source: Address, now: float, events: list[Event]
    ) -> None:
        set_props, set_ok, announce = self._write_all(obj, request.properties, source, now, events)
        get_props, get_ok = self._read_all(obj, request.get_properties, now)
        esv = ESV.SETGET_RES if set_ok and get_ok else ESV.SETGET_SNA
        self._reply(obj, request, esv, set_props, source, get_props)
        self._announce(obj, announce, now)


_HANDLERS: Final = {
    ESV.GET: Node._on_get,
    ESV.INF_REQ: Node._on_inf_req,
    ESV.SETC: Node._on_setc,
    ESV.SETI: Node._on_seti,
    ESV.SETGET: Node._on_setget,
}

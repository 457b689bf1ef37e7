"""A simulated A-route (DLMS/COSEM-style) electricity meter: sans-IO, seeded, catalogue-built.

The objects come from ``specs/cosem`` (:func:`~smartmeter_proto.aroute.profile.load_catalogue`)
and sit in :attr:`SimulatedAMeter.objects` for the server association. Energy follows the same
:class:`~smartmeter_proto.sim.load_curve.LoadCurve` as the B-route
:class:`~smartmeter_proto.sim.meter.SimulatedMeter`: on a shared curve (and the same
``initial_kwh``) the A-route import register in 10 Wh steps, divided by ten, equals the B-route
0.1 kWh count, as long as no outage has happened (see below).

Choices (documented here, tested in ``tests/sim/test_ameter.py``):

* Capture: a profile entry is taken at every multiple of ``capture_period`` seconds of POSIX
  time (JST is UTC+9 h, a whole number of periods), with the values the model gives at that
  instant; a late :meth:`~SimulatedAMeter.tick` catches up on every boundary it passed.
* Value push: after each 30-minute entry (and each 5-minute one when ``push_5min``) a
  DataNotification goes out at a seeded random delay in
  ``[0, min(randomisation_start_interval, MAX_PUSH_DELAY_S)]`` after the period end (the push
  setup's attribute 5, default 1200 s for 30-minute values, 120 s for 5-minute ones), so a
  fleet does not push at once and the value still arrives within the 60 minutes the
  requirement allows. The delay is a pure function of (seed, push setup, period end).
* Outage: :meth:`~SimulatedAMeter.outage` takes the entries due up to that instant, then sends
  the Last Gasp at once and drops the value pushes not yet sent (the head end reads them back).
  While the power is off nothing is captured, pushed or applied and the house draws nothing:
  the energy the load curve would have used in the outage is subtracted from the registers.
* Restore: entries for the period boundaries in ``(outage, restore]`` are ABSENT (not filled,
  not flagged): the profile holds only what was measured, and the power event log holds the
  failure and restoration times that explain the gap. Reservations that fell due during the
  outage are applied at the restoration tick.
* Last Gasp and restoration are DataNotifications of the catalogue's ``power_event_push``
  (push setup, class 40), not EventNotificationRequests: COSEM push setups emit
  Data-Notification (Green Book push mechanism), one frame carries the push setup name, the
  time and the event code together, and the same decoder and key path serve every push.
  The Last Gasp carries high priority in its long-invoke-id-and-priority.
* Every push is general-glo-ciphering with authenticated encryption (security suite 0,
  security control 0x30) under the meter's system title. The invocation counter is a
  :class:`~smartmeter_proto.security_state.SendCounter` in the ``state`` store the caller
  gives (:func:`~smartmeter_proto.aroute.keys.send_counter`: named after the system title
  and the key), so it rises across outages, reboots and restarts of the program and is never
  reused; a throw-away run passes a ``MemoryStateStore`` explicitly. At the counter's last
  value a push is not sent and is counted in :attr:`SimulatedAMeter.exhausted_pushes`.
* Answers and pushes share ONE counter, or a GCM IV (system title and counter) would repeat
  under one key: build the meter's association server with
  :meth:`~SimulatedAMeter.association_server` (or give an
  :class:`~smartmeter_proto.aroute.association.AssociationServer` the meter's
  :attr:`~SimulatedAMeter.send_counter` and :meth:`~SimulatedAMeter.attach` it); pushes
  then go through the server, under the keys in force after a key transfer.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from ..aroute.apdu import DataNotification, LongInvokeIdAndPriority
from ..aroute.association import AssociationServer, Authentication
from ..aroute.axdr import CosemDateTime, Data, DataType
from ..aroute.cosem import (
    AccessRights,
    ActionItem,
    AssociationLN,
    CaptureObject,
    ClassId,
    Clock,
    ControlState,
    CosemData,
    CosemObject,
    ProfileGeneric,
    PushSetup,
    Register,
    SecuritySetup,
    Unit,
    ValueDefinition,
    datetime_data,
)
from ..aroute.keys import send_counter
from ..aroute.obis import Obis
from ..aroute.profile import (
    CaptureSpec,
    Catalogue,
    Event,
    LimitChanged,
    LimiterReservation,
    LimitRestored,
    ObjectSpec,
    ValveAction,
    ValveOperated,
    ValveReservation,
    load_catalogue,
)
from ..aroute.security import KEY_LENGTH, InvocationCounters, SecurityControl, protect
from ..security_state import CounterExhausted, SendCounter, StateStore
from .ameter_objects import (
    GatedDisconnectControl,
    GatedLimiter,
    LimiterReservationObject,
    ValveReservationObject,
)
from .load_curve import JST, LoadCurve, mix64
from .meter import HISTORY_DAYS
from .profile_rows import CompactRows

__all__ = [
    "MAX_PUSH_DELAY_S",
    "PUSH_DEADLINE_S",
    "VALUE_PUSH_5MIN",
    "VALUE_PUSH_30MIN",
    "SimulatedAMeter",
]

#: 30-minute values reach the head end within 60 minutes (METI/ANRE next-generation smart
#: meter requirements, A-route service level; /work/shared/notes/requirements.md).
PUSH_DEADLINE_S: Final = 3600
#: Upper bound of the random push delay: leaves 10 minutes of the deadline for the network.
MAX_PUSH_DELAY_S: Final = PUSH_DEADLINE_S - 600
#: Default spread of the 30-minute push (s) and of the real-time 5-minute push, which must
#: arrive within 10 minutes (same requirements).
DEFAULT_SPREAD_30MIN_S: Final = 1200
DEFAULT_SPREAD_5MIN_S: Final = 120
#: Push setups of the value pushes, 0-b:25.9.0.255 (gurux OBISCodes.txt "Push setup", B 0..64;
#: companion specifications number their push setups with B, e.g. gurux Italy.txt 0.1..0.4).
#: B 1 and 2 are our gas and water channels, so B 3 and 4. Not yet in specs/cosem.
VALUE_PUSH_30MIN: Final = Obis(0, 3, 25, 9, 0, 255)
VALUE_PUSH_5MIN: Final = Obis(0, 4, 25, 9, 0, 255)
#: Script table the limiter calls on over/under threshold: 0-0:10.0.106.255 "Disconnect control"
#: (gurux OBISCodes.txt); selectors 1 disconnect, 2 reconnect are this profile's choice.
_DISCONNECT_SCRIPTS: Final = Obis(0, 0, 10, 0, 106, 255)
#: Security control of every push: suite 0, authenticated and encrypted (Green Book 9.2.7.2).
_PUSH_SECURITY: Final = SecurityControl(authenticated=True, encrypted=True)
#: security_policy 3 = authenticated and encrypted (Security setup version 0 enum).
_POLICY_AUTH_ENC: Final = 3
_SYSTEM_TITLE_LENGTH: Final = 8
_LONG_INVOKE_IDS: Final = 1 << 24
#: Model constants (simulation choices): power factor, nominal phase voltage (Japanese
#: single-phase three-wire 100/200 V), voltage noise, share of current on phase T.
_POWER_FACTOR: Final = 0.95
_PHASE_VOLTAGE: Final = 100.0
_NOMINAL_V: Final = 101.0
_VOLTAGE_SIGMA: Final = 0.8
_PHASE_T_SHARE: Final = 0.9
#: Management client / meter SAPs (Green Book HDLC/wrapper addressing), project choice.
_CLIENT_SAP: Final = 1
_SERVER_SAP: Final = 1
#: Association LN: application context 3 (LN with ciphering), mechanism 5 (HLS GMAC).
_CONTEXT_LN_CIPHERED: Final = 3
_MECHANISM_HLS_GMAC: Final = 5
_READ, _READ_WRITE, _METHOD = 1, 3, 1

_Model = Callable[["SimulatedAMeter", float], float]
#: Access rights by (object class, attribute count, method count), shared by all meters.
_RIGHTS: dict[tuple[type, int, int], AccessRights] = {}
#: Voltage noise: one shared table of standard normal deviates, indexed by a hash of
#: (meter seed, phase, minute) (simulation choice: cheaper than a seeded generator per value).
_NOISE_BITS: Final = 12
_NOISE: Final = tuple(
    random.Random(7_919).gauss(0.0, 1.0)  # noqa: S311 - simulation
    for _ in range(1 << _NOISE_BITS)
)


@functools.lru_cache(maxsize=4096)
def _instant(t: float) -> Data:
    """The clock value (octet-string date_time, JST) at POSIX ``t``: every meter of a fleet
    captures the same boundaries, so one frozen value serves them all."""
    return datetime_data(_cdt(_jst(t)))


@dataclass(frozen=True, slots=True)
class _Scheduled:
    due: float
    push: Obis
    body: Data


def _posix(value: datetime, what: str = "now") -> float:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value.timestamp()


def _jst(t: float) -> datetime:
    return datetime.fromtimestamp(t, JST)


def _cdt(value: datetime) -> CosemDateTime:
    return CosemDateTime.from_datetime(value.astimezone(JST))


def _capture(c: CaptureSpec) -> CaptureObject:
    return CaptureObject(c.class_id, c.obis, c.attribute)


class SimulatedAMeter:
    """One A-route meter. ``start``: its clock at power-up (aware datetime).

    ``ek``/``ak``: the global encryption and authentication keys (16 bytes, never shown);
    ``system_title``: the meter's (8 bytes, also its id in pushes); ``client_system_title``:
    the head end's, kept in the security setup. ``state``: where the invocation counter lives
    (its non-volatile memory: a ``FileStateStore``/``SqliteStateStore`` survives a restart of
    the program, a ``MemoryStateStore`` only this run).
    """

    def __init__(
        self,
        *,
        start: datetime,
        system_title: bytes,
        client_system_title: bytes,
        ek: bytes,
        ak: bytes,
        state: StateStore,
        seed: int = 1,
        curve: LoadCurve | None = None,
        initial_kwh: float = 12_345.6,
        contract_limit_a: int = 30,
        push_5min: bool = False,
        push_destination: bytes = b"",
        catalogue: Catalogue | None = None,
        live_registers: bool = True,
    ) -> None:
        for name, key in (("ek", ek), ("ak", ak)):
            if len(key) != KEY_LENGTH:
                raise ValueError(f"{name} must be {KEY_LENGTH} bytes")
        for name, title in (
            ("system_title", system_title),
            ("client_system_title", client_system_title),
        ):
            if len(title) != _SYSTEM_TITLE_LENGTH:
                raise ValueError(f"{name} must be {_SYSTEM_TITLE_LENGTH} bytes, got {len(title)}")
        self._ek, self._ak = bytes(ek), bytes(ak)
        self.system_title = bytes(system_title)
        self.client_system_title = bytes(client_system_title)
        self.seed = seed
        self.initial_kwh = initial_kwh
        self.push_5min = push_5min
        #: False: registers and the clock object are brought up to date only by
        #: :meth:`refresh_registers` (a fleet meter refreshes them when a request arrives).
        self.live_registers = live_registers
        self.state = state
        self._counter = send_counter(state, system_title, self._ek)
        #: Pushes not sent because the invocation counter is exhausted (keys must change).
        self.exhausted_pushes = 0
        self._server: AssociationServer | None = None
        self.catalogue = catalogue or load_catalogue()
        t0 = _posix(start, "start")
        self.curve = curve or LoadCurve(seed=seed)
        if not self.curve.start:  # same rule as SimulatedMeter.counts: a midnight before history
            first_day: date = _jst(t0).date() - timedelta(days=HISTORY_DAYS + 2)
            self.curve.start = datetime(
                first_day.year, first_day.month, first_day.day, tzinfo=JST
            ).timestamp()
        self._last_t = t0
        self._powered = True
        self._outage_start: float | None = None
        self._outages: list[tuple[float, float]] = []
        self._energy_at: tuple[float, int, tuple[float, float]] | None = None
        self._scheduled: list[_Scheduled] = []
        self._outbox: list[bytes] = []
        self._push_seq = 0
        #: Value pushes dropped by an outage before they went out.
        self.dropped_pushes = 0
        #: Every reservation event applied so far (limit changes, valve operations, drills).
        self.control_events: list[Event] = []
        self.limiter_reservation = LimiterReservation(contract_limit_a)
        self.valve_reservations: dict[str, ValveReservation] = {}
        self._models: dict[Obis, _Model] = {}
        self._names: dict[str, CosemObject] = {}
        self.objects: dict[Obis, CosemObject] = {}
        self._build(start, push_destination)
        #: The periodic load profiles (capture_period > 0 in the catalogue).
        self.profiles: dict[Obis, ProfileGeneric] = {
            o.logical_name: o
            for o in self.objects.values()
            if isinstance(o, ProfileGeneric) and o.capture_period > 0
        }
        for profile in self.profiles.values():  # raw values: a fleet keeps millions of rows
            profile.buffer = CompactRows()  # type: ignore[assignment]
        self._cursor = {obis: t0 for obis in self.profiles}
        self._refresh(t0)

    # ------------------------------------------------------------------ building
    def _build(self, start: datetime, destination: bytes) -> None:
        for spec in self.catalogue.objects:
            if spec.class_id == ClassId.ASSOCIATION_LN:
                continue  # built last, listing every object
            self._add(spec.name, self._object(spec, start, destination))
        value_pushes = (
            (VALUE_PUSH_30MIN, "load_profile_30min", DEFAULT_SPREAD_30MIN_S),
            (VALUE_PUSH_5MIN, "load_profile_5min", DEFAULT_SPREAD_5MIN_S),
        )
        self._push_of: dict[Obis, Obis] = {}
        for push_obis, profile_name, spread in value_pushes:
            profile = self._names.get(profile_name)
            if not isinstance(profile, ProfileGeneric):
                continue  # a catalogue without that profile (a lean fleet meter)
            columns = (
                CaptureObject(ClassId.PUSH_SETUP, push_obis, 1),
                CaptureObject(
                    ClassId.SECURITY_SETUP, self.catalogue.by_name("security_setup").obis, 5
                ),
                *profile.capture_objects,
            )
            self._add(
                f"value_push_{profile_name[13:]}",
                PushSetup(
                    push_obis, columns, destination=destination, randomisation_start_interval=spread
                ),
            )
            self._push_of[profile.logical_name] = push_obis
        spec = self.catalogue.by_name("current_association")
        association = AssociationLN(
            spec.obis,
            [],
            client_sap=_CLIENT_SAP,
            server_sap=_SERVER_SAP,
            application_context=_CONTEXT_LN_CIPHERED,
            mechanism=_MECHANISM_HLS_GMAC,
            security_setup=self.catalogue.by_name("security_setup").obis,
        )
        self._add(spec.name, association)
        association.objects = list(self.objects.values())
        association.access = {o.logical_name: self._rights(o) for o in association.objects}

    def _add(self, name: str, obj: CosemObject) -> None:
        self._names[name] = obj
        self.objects[obj.logical_name] = obj

    def _object(self, spec: ObjectSpec, start: datetime, destination: bytes) -> CosemObject:
        captures = [_capture(c) for c in spec.captures]
        match spec.class_id:
            case ClassId.REGISTER:
                self._models[spec.obis] = self._model(spec.name)
                return Register(
                    spec.obis,
                    Data(spec.value_type or DataType.DOUBLE_LONG, 0),
                    spec.scaler or 0,
                    spec.unit or Unit.NO_UNIT,
                )
            case ClassId.CLOCK:
                local = start.astimezone(JST)
                offset = local.utcoffset() or timedelta(0)
                return Clock(spec.obis, _cdt(local), time_zone=-int(offset.total_seconds() // 60))
            case ClassId.PROFILE_GENERIC:
                return ProfileGeneric(
                    spec.obis,
                    captures,
                    capture_period=spec.capture_period or 0,
                    profile_entries=spec.profile_entries or 1,
                )
            case ClassId.PUSH_SETUP:
                return PushSetup(spec.obis, captures, destination=destination)
            case ClassId.SECURITY_SETUP:
                return SecuritySetup(
                    spec.obis,
                    server_system_title=self.system_title,
                    client_system_title=self.client_system_title,
                    security_policy=_POLICY_AUTH_ENC,
                )
            case ClassId.LIMITER:
                monitored = captures[0]
                return GatedLimiter(
                    spec.obis,
                    ValueDefinition(
                        monitored.class_id, monitored.logical_name, monitored.attribute_index
                    ),
                    reservation=self.limiter_reservation,
                    threshold_type=spec.value_type or DataType.LONG_UNSIGNED,
                    min_over_threshold_duration=0,
                    min_under_threshold_duration=0,
                    action_over=ActionItem(_DISCONNECT_SCRIPTS, 1),
                    action_under=ActionItem(_DISCONNECT_SCRIPTS, 2),
                )
            case ClassId.DISCONNECT_CONTROL:
                return GatedDisconnectControl(spec.obis)
            case ClassId.DATA if spec.name == "limiter_reservation":
                return LimiterReservationObject(spec.obis, self.limiter_reservation)
            case ClassId.DATA if spec.name.endswith("_valve_reservation"):
                valve = ValveReservation(spec.name)
                self.valve_reservations[spec.name] = valve
                return ValveReservationObject(spec.obis, valve)
            case ClassId.DATA:
                return CosemData(
                    spec.obis,
                    Data(spec.value_type or DataType.NULL, None if spec.value_type is None else 0),
                )
        raise ValueError(f"{spec.name}: no simulation for class {spec.class_id}")

    @staticmethod
    def _rights(obj: CosemObject) -> AccessRights:
        """Read everything; write what the head end may change (gated objects check more).
        One shared (frozen) value per kind of object: a fleet holds thousands of meters."""
        kind = (type(obj), len(obj.attribute_names), len(obj.method_names))
        found = _RIGHTS.get(kind)
        if found is None:
            found = _RIGHTS[kind] = SimulatedAMeter._new_rights(obj)
        return found

    @staticmethod
    def _new_rights(obj: CosemObject) -> AccessRights:
        writable: set[int] = set()
        methods: set[int] = set()
        if isinstance(obj, LimiterReservationObject | ValveReservationObject):
            writable = {2}
        elif isinstance(obj, GatedLimiter):
            writable = {4, 5, 6, 7, 11}
        elif isinstance(obj, GatedDisconnectControl):
            writable, methods = {4}, {1, 2}
        elif isinstance(obj, ProfileGeneric):
            writable, methods = {4}, {1}
        elif isinstance(obj, PushSetup):
            writable = {5, 6, 7}
        elif isinstance(obj, Clock):
            writable = {2}
        attrs = tuple(
            (i, _READ_WRITE if i in writable else _READ)
            for i in range(1, len(obj.attribute_names) + 1)
        )
        return AccessRights(
            attrs,
            tuple((i, _METHOD if i in methods else 0) for i in range(1, len(obj.method_names) + 1)),
        )

    # ---------------------------------------------------------------- the model
    def _energy_wh(self, t: float) -> tuple[float, float]:
        """(import, export) Wh at ``t``: the load curve, less what outages did not draw
        (the last instant asked is remembered: four registers read it per capture)."""
        if (
            self._energy_at is not None
            and self._energy_at[0] == t
            and self._energy_at[1] == len(self._outages)
            and self._outage_start is None
        ):
            return self._energy_at[2]
        value = self._energy_wh_at(t)
        self._energy_at = (t, len(self._outages), value)
        return value

    def _energy_wh_at(self, t: float) -> tuple[float, float]:
        imported, exported = self.curve.energy_wh(t)
        spans = list(self._outages)
        if self._outage_start is not None:
            spans.append((self._outage_start, t))
        for begin, end in spans:
            if begin < t:
                a_in, a_out = self.curve.energy_wh(begin)
                b_in, b_out = self.curve.energy_wh(min(end, t))
                imported -= b_in - a_in
                exported -= b_out - a_out
        return self.initial_kwh * 1000 + imported, exported

    def _amps(self, t: float) -> float:
        return abs(self.curve.power_w(t)) / (2 * _PHASE_VOLTAGE)

    def _volts(self, t: float, phase: int) -> float:
        noise = _NOISE[mix64(self.seed, phase, math.floor(t / 60)) >> (64 - _NOISE_BITS)]
        return _NOMINAL_V + _VOLTAGE_SIGMA * noise

    @staticmethod
    def _model(name: str) -> _Model:
        model = _MODELS.get(name)
        if model is None:
            raise ValueError(f"register {name}: no model in the simulated meter")
        return model

    def register_value(self, obis: Obis, t: float) -> Data:
        """Register ``obis`` attribute 2 at POSIX time ``t``: counters truncate, others round."""
        register = self.objects[obis]
        assert isinstance(register, Register)
        physical = self._models[obis](self, t) / 10.0**register.scaler
        tag = register.value.type
        raw = math.floor(physical) if tag == DataType.DOUBLE_LONG_UNSIGNED else round(physical)
        if tag == DataType.DOUBLE_LONG_UNSIGNED:
            raw %= 1 << 32  # rollover of a 32-bit counter
        return Data(tag, raw)

    def _value_at(self, column: CaptureObject, t: float) -> Data:
        """A capture/push column's value at ``t`` (clock: that instant; registers: the model)."""
        if column.class_id == ClassId.CLOCK and column.attribute_index == 2:
            return _instant(t)
        if column.logical_name in self._models and column.attribute_index == 2:
            return self.register_value(column.logical_name, t)
        return self.objects[column.logical_name].get(column.attribute_index)

    # ------------------------------------------------------------ the machine
    @property
    def powered(self) -> bool:
        return self._powered

    def _advance(self, now: datetime) -> float:
        t = _posix(now)
        if t < self._last_t:
            raise ValueError("time went backwards")
        self._last_t = t
        return t

    def tick(self, now: datetime) -> list[Event]:
        """Apply due reservations, capture due profile entries, emit due pushes (if powered)."""
        t = self._advance(now)
        if not self._powered:
            return []
        events = self._apply_reservations(now)
        self._capture_until(t)
        due = sorted((s for s in self._scheduled if s.due <= t), key=lambda s: s.due)
        self._scheduled = [s for s in self._scheduled if s.due > t]
        for item in due:
            self._send(item.body, now)
        if self.live_registers:
            self._refresh(t)
        return events

    def refresh_registers(self) -> None:
        """Bring registers, clock and limiter to the meter's current time."""
        self._refresh(self._last_t)

    def outage(self, now: datetime) -> None:
        """Power fails at ``now``: capture what is due, send the Last Gasp, stop."""
        if not self._powered:
            raise ValueError("the meter is already without power")
        self.tick(now)
        self._powered = False
        self._outage_start = self._last_t
        self.dropped_pushes += len(self._scheduled)
        self._scheduled.clear()
        self._power_event(self._last_t, now, "power_failure")

    def restore(self, now: datetime) -> list[Event]:
        """Power returns at ``now``: send the restoration event, resume (no back-filled rows)."""
        if self._powered:
            raise ValueError("the meter has power")
        t = self._advance(now)
        assert self._outage_start is not None
        self._outages.append((self._outage_start, t))
        self._outage_start = None
        self._powered = True
        self._cursor = dict.fromkeys(self._cursor, t)
        self._power_event(t, now, "power_restored")
        return self.tick(now)

    def reboot(self, now: datetime) -> None:
        """The meter restarts at ``now`` (watchdog, firmware): what is due is captured first;
        the profiles, registers and invocation counter survive (non-volatile), the value pushes
        waiting in RAM are lost (the head end reads them back). No power event: the supply
        never failed."""
        self.tick(now)
        if self._powered:
            self.dropped_pushes += len(self._scheduled)
            self._scheduled.clear()

    @property
    def send_counter(self) -> SendCounter:
        """The meter's invocation counter under the key in force (its server's once
        attached: one counter for answers and pushes)."""
        return self._counter if self._server is None else self._server.counter

    @property
    def invocation_counter(self) -> int:
        """The invocation counter the next ciphered APDU of this meter will carry."""
        return self.send_counter.peek

    def association_server(
        self,
        *,
        authentication: Authentication = Authentication.LOWEST,
        password: bytes | None = None,
        client_counters: InvocationCounters | None = None,
        master_key: bytes | None = None,
        challenge: Callable[[], bytes] | None = None,
    ) -> AssociationServer:
        """The meter's association server: its objects, title, keys and counter, attached
        (pushes go through it). ``master_key`` enables key transfer."""
        server = AssociationServer(
            self.objects,
            system_title=self.system_title,
            ek=self._ek,
            ak=self._ak,
            authentication=authentication,
            password=password,
            client_counters=client_counters,
            counter=self.send_counter,
            master_key=master_key,
            on_new_keys=self._new_keys,
            challenge=challenge,
        )
        self.attach(server)
        return server

    def attach(self, server: AssociationServer) -> None:
        """Send pushes through ``server`` (same system title): one counter for answers and
        pushes, and the keys a key transfer puts in force. A restarted server is attached
        again."""
        if server.system_title != self.system_title:
            raise ValueError("the server answers for another system title")
        self._server = server

    def _new_keys(self, ek: bytes, ak: bytes) -> None:
        """A key transfer through the attached server: the meter's keys follow."""
        self._ek, self._ak = bytes(ek), bytes(ak)

    def pushes_to_send(self) -> list[bytes]:
        """The ciphered push APDUs produced since the last call, oldest first."""
        out, self._outbox = self._outbox, []
        return out

    def next_deadline(self) -> datetime | None:
        """When :meth:`tick` must next run (None while the power is off)."""
        if not self._powered:
            return None
        times = [s.due for s in self._scheduled]
        for obis, profile in self.profiles.items():
            if profile.capture_period > 0:
                period = profile.capture_period
                times.append((math.floor(self._cursor[obis] / period) + 1) * period)
        for reservation in (self.limiter_reservation, *self.valve_reservations.values()):
            deadline = reservation.next_deadline()
            if deadline is not None:
                times.append(deadline.timestamp())
        return _jst(min(times)) if times else None

    def __repr__(self) -> str:
        return (
            f"SimulatedAMeter(system_title={self.system_title.hex().upper()}, "
            f"powered={self._powered}, invocation_counter={self.invocation_counter}, "
            "keys=<hidden>)"
        )

    # ------------------------------------------------------------ internals
    def _apply_reservations(self, now: datetime) -> list[Event]:
        events: list[Event] = list(self.limiter_reservation.tick(now))
        for name, valve in self.valve_reservations.items():
            for event in valve.tick(now):
                events.append(event)
                if isinstance(event, ValveOperated):
                    switch = self._names.get(name.removesuffix("_reservation"))
                    if isinstance(switch, GatedDisconnectControl):
                        switch.control_state = (
                            ControlState.DISCONNECTED
                            if event.action == ValveAction.CLOSE
                            else ControlState.CONNECTED
                        )
        if any(isinstance(e, LimitChanged | LimitRestored) for e in events):
            self._limiter().follow()
        self.control_events.extend(events)
        return events

    def _limiter(self) -> GatedLimiter:
        limiter = self._names["ampere_limiter"]
        assert isinstance(limiter, GatedLimiter)
        return limiter

    def _capture_until(self, t: float) -> None:
        for obis, profile in self.profiles.items():
            period = profile.capture_period
            if period > 0:
                first = math.floor(self._cursor[obis] / period) + 1
                last = math.floor(t / period)
                # Entries older than the buffer keeps would be dropped at once: skip them.
                for k in range(max(first, last - profile.profile_entries + 1), last + 1):
                    boundary = float(k * period)
                    row = [self._value_at(c, boundary) for c in profile.capture_objects]
                    profile.capture_row(row)
                    self._schedule(profile, boundary, row)
            self._cursor[obis] = t

    def _schedule(self, profile: ProfileGeneric, boundary: float, row: list[Data]) -> None:
        """Queue the value push of the entry ``row`` just captured at ``boundary``."""
        push_obis = self._push_of.get(profile.logical_name)
        if push_obis is None or (push_obis == VALUE_PUSH_5MIN and not self.push_5min):
            return
        push = self.objects[push_obis]
        assert isinstance(push, PushSetup)
        spread = min(push.randomisation_start_interval, MAX_PUSH_DELAY_S)
        delay = mix64(self.seed, push_obis.b, int(boundary)) % (spread + 1)
        columns = push.push_objects
        n = len(columns) - len(row)
        if n >= 0 and columns[n:] == profile.capture_objects:  # the entry, after its header
            values = (*(self._value_at(c, boundary) for c in columns[:n]), *row)
        else:
            values = tuple(self._value_at(c, boundary) for c in columns)
        self._scheduled.append(
            _Scheduled(boundary + delay, push_obis, Data(DataType.STRUCTURE, values))
        )

    def _power_event(self, t: float, now: datetime, event: str) -> None:
        code = self._names["power_event_code"]
        assert isinstance(code, CosemData)
        code.value = Data(code.value.type, self.catalogue.event_codes[event])
        log = self._names["power_event_log"]
        assert isinstance(log, ProfileGeneric)
        log.capture_row([self._value_at(c, t) for c in log.capture_objects])
        push = self._names["power_event_push"]
        assert isinstance(push, PushSetup)
        body = Data(DataType.STRUCTURE, tuple(self._value_at(c, t) for c in push.push_objects))
        self._send(body, now, high_priority=event == "power_failure")

    def _send(self, body: Data, now: datetime, *, high_priority: bool = False) -> None:
        notification = DataNotification(
            body,
            date_time=_cdt(now).encode(),
            long_invoke=LongInvokeIdAndPriority(
                self._push_seq % _LONG_INVOKE_IDS, high_priority=high_priority
            ),
        )
        self._push_seq += 1
        try:
            if self._server is not None:
                self._outbox.append(self._server.protect_apdu(notification.encode()))
                return
            ic = self._counter.next()
        except CounterExhausted:
            self.exhausted_pushes += 1
            return
        self._outbox.append(
            protect(
                notification.encode(),
                security_control=_PUSH_SECURITY,
                system_title=self.system_title,
                invocation_counter=ic,
                ek=self._ek,
                ak=self._ak,
            )
        )

    def _refresh(self, t: float) -> None:
        for obis in self._models:
            register = self.objects[obis]
            assert isinstance(register, Register)
            register.value = self.register_value(obis, t)
        clock = self._names["clock"]
        assert isinstance(clock, Clock)
        clock.time = _cdt(_jst(t))
        self._limiter().follow()


_TAN_PHI: Final = math.tan(math.acos(_POWER_FACTOR))
#: The register models by catalogue name (one table for every meter: no closures per meter).
_MODELS: Final[dict[str, _Model]] = {
    "active_energy_import": lambda m, t: m._energy_wh(t)[0],
    "active_energy_export": lambda m, t: m._energy_wh(t)[1],
    "reactive_energy_import": lambda m, t: m._energy_wh(t)[0] * _TAN_PHI,
    "reactive_energy_export": lambda m, t: m._energy_wh(t)[1] * _TAN_PHI,
    "instantaneous_active_power": lambda m, t: float(m.curve.power_w(t)),
    "voltage_l1": lambda m, t: m._volts(t, 1),
    "voltage_l2": lambda m, t: m._volts(t, 2),
    "current_l1": lambda m, t: m._amps(t),
    "current_l2": lambda m, t: m._amps(t) * _PHASE_T_SHARE,
    "current_any_phase": lambda m, t: m._amps(t),
}

"""Our Japanese next-generation A-route profile: the OBIS catalogue and the reservation models.

The catalogue lives in ``specs/cosem/*.yaml`` (one file per group); :func:`load_catalogue`
turns it into typed :class:`ObjectSpec` and checks it against :mod:`.cosem` and the OBIS rules
(a project-defined object must sit in a manufacturer-specific range, a standard one must not).

:class:`LimiterReservation` and :class:`ValveReservation` are sans-IO server models of the
remote ampere limit and relayed valve commands: a command passes only when the caller (the
association/security layer) says it is ``authenticated`` and ``fresh``; a reservation takes
effect at its activation time when :meth:`tick` is called with ``now``; a drill never changes
the real state. Times are timezone-aware :class:`datetime.datetime` values.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .axdr import CosemDateTime, Data, DataType
from .cosem import ClassId, CosemAccessError, Unit, datetime_data, datetime_from_data
from .obis import Obis

__all__ = [
    "CaptureSpec",
    "Catalogue",
    "CommandResult",
    "DrillPerformed",
    "LimitChanged",
    "LimitRestored",
    "LimiterReservation",
    "ObjectSpec",
    "ReservationState",
    "ValveAction",
    "ValveOperated",
    "ValveReservation",
    "load_catalogue",
    "specs_dir",
]

_TYPE_NAMES: Mapping[str, DataType] = {t.name.lower().replace("_", "-"): t for t in DataType}


# --- the catalogue -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaptureSpec:
    """One captured (or monitored, or pushed) attribute: class id, OBIS, attribute index."""

    class_id: int
    obis: Obis
    attribute: int


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One named COSEM object of the profile."""

    name: str
    obis: Obis
    class_id: ClassId
    standard: bool
    group: str
    description: str
    value_type: DataType | None = None
    scaler: int | None = None
    unit: Unit | None = None
    capture_period: int | None = None
    profile_entries: int | None = None
    captures: tuple[CaptureSpec, ...] = ()
    fields: tuple[str, ...] = ()

    @property
    def project_defined(self) -> bool:
        return not self.standard


@dataclass(frozen=True, slots=True)
class Catalogue:
    """All objects of the profile, with look-ups by name and OBIS."""

    objects: tuple[ObjectSpec, ...]
    event_codes: Mapping[str, int]

    def by_name(self, name: str) -> ObjectSpec:
        for spec in self.objects:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def by_obis(self, obis: Obis | str) -> ObjectSpec:
        code = Obis.parse(obis) if isinstance(obis, str) else obis
        for spec in self.objects:
            if spec.obis == code:
                return spec
        raise KeyError(str(code))

    def project_defined(self) -> tuple[ObjectSpec, ...]:
        return tuple(s for s in self.objects if not s.standard)


def specs_dir() -> Path:
    """``specs/cosem``: shipped inside the wheel, or the source tree's."""
    shipped = resources.files("smartmeter_proto") / "specs" / "cosem"
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[3] / "specs" / "cosem"


def _capture(entry: Mapping[str, Any], where: str) -> CaptureSpec:
    try:
        return CaptureSpec(
            int(entry["class_id"]), Obis.parse(str(entry["obis"])), int(entry["attribute"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad capture entry {entry!r}: {exc}") from None


def _object(entry: Mapping[str, Any], group: str, where: str) -> ObjectSpec:
    name = str(entry["name"])
    here = f"{where}: {name}"
    obis = Obis.parse(str(entry["obis"]))
    class_id = ClassId(int(entry["class_id"]))
    standard = bool(entry["standard"])
    if standard == obis.manufacturer_specific:
        kind = "standard" if standard else "project-defined"
        raise ValueError(f"{here}: {kind} object with OBIS {obis} in the wrong range")
    type_name = entry.get("value_type")
    unit = entry.get("unit")
    lists = [entry.get(k, ()) for k in ("captures", "push_objects")]
    captures = [_capture(c, here) for c in (*lists[0], *lists[1])]
    if "monitored" in entry:
        captures.append(_capture(entry["monitored"], here))
    return ObjectSpec(
        name=name,
        obis=obis,
        class_id=class_id,
        standard=standard,
        group=group,
        description=str(entry.get("description", "")),
        value_type=_TYPE_NAMES[str(type_name)] if type_name is not None else None,
        scaler=int(entry["scaler"]) if "scaler" in entry else None,
        unit=Unit[str(unit)] if unit is not None else None,
        capture_period=int(entry["capture_period"]) if "capture_period" in entry else None,
        profile_entries=int(entry["profile_entries"]) if "profile_entries" in entry else None,
        captures=tuple(captures),
        fields=tuple(str(f) for f in entry.get("fields", ())),
    )


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Read every ``*.yaml`` in ``directory`` (default :func:`specs_dir`); ValueError if bad."""
    if directory is None:
        return _default_catalogue()
    objects: list[ObjectSpec] = []
    codes: dict[str, int] = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        group = str(doc["group"])
        codes.update({str(k): int(v) for k, v in doc.get("event_codes", {}).items()})
        for entry in doc["objects"]:
            try:
                objects.append(_object(entry, group, path.name))
            except (KeyError, TypeError) as exc:
                raise ValueError(f"{path.name}: bad entry {entry!r}: {exc}") from None
    _check_catalogue(objects)
    return Catalogue(tuple(objects), codes)


def _check_catalogue(objects: Sequence[ObjectSpec]) -> None:
    seen: dict[Obis, str] = {}
    for spec in objects:
        if spec.obis in seen:
            raise ValueError(f"{spec.name}: OBIS {spec.obis} already used by {seen[spec.obis]}")
        seen[spec.obis] = spec.name
    classes = {s.obis: s.class_id for s in objects}
    for spec in objects:
        for cap in spec.captures:
            if classes.get(cap.obis) != cap.class_id:
                raise ValueError(
                    f"{spec.name}: capture {cap.obis} (class {cap.class_id}) "
                    "is not a catalogue object of that class"
                )


@functools.cache
def _default_catalogue() -> Catalogue:
    return load_catalogue(specs_dir())


# --- reservations --------------------------------------------------------------------------


class CommandResult(IntEnum):
    """What a reservation command came to; only ACCEPTED changes anything."""

    ACCEPTED = 0
    REJECTED_UNAUTHENTICATED = 1
    REJECTED_STALE = 2
    REJECTED_INVALID = 3
    REJECTED_BUSY = 4
    REJECTED_TOO_LATE = 5


class ReservationState(IntEnum):
    """Field ``state`` of a reservation object (project-defined enum)."""

    NONE = 0
    PENDING = 1  # waiting for the activation time
    ACTIVE = 2  # applied (or drilled), waiting for the release time


class ValveAction(IntEnum):
    """Field ``command`` of a valve reservation (project-defined enum)."""

    CLOSE = 0
    OPEN = 1


@dataclass(frozen=True, slots=True)
class LimitChanged:
    old_limit_a: int
    new_limit_a: int
    at: datetime


@dataclass(frozen=True, slots=True)
class LimitRestored:
    limit_a: int
    at: datetime


@dataclass(frozen=True, slots=True)
class DrillPerformed:
    """A drill reached its activation (or release) time; the real state did not change."""

    object_name: str
    phase: str  # "activation" or "release"
    at: datetime


@dataclass(frozen=True, slots=True)
class ValveOperated:
    """The relayed valve command to send now."""

    action: ValveAction
    at: datetime


Event = LimitChanged | LimitRestored | DrillPerformed | ValveOperated


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value


def _gate(authenticated: bool, fresh: bool) -> CommandResult | None:
    if authenticated is not True:
        return CommandResult.REJECTED_UNAUTHENTICATED
    if fresh is not True:
        return CommandResult.REJECTED_STALE
    return None


def _time_data(value: datetime | None) -> Data:
    if value is None:
        return Data(DataType.NULL, None)
    return datetime_data(CosemDateTime.from_datetime(value))


def _time_from(d: Data, what: str) -> datetime | None:
    """A reservation time field; None for null-data or an unusable date-time."""
    if d.type == DataType.NULL:
        return None
    try:
        value = datetime_from_data(d, what).to_datetime()
    except (CosemAccessError, ValueError, OverflowError):
        return None
    return value if value.tzinfo is not None else None


class _Reservation:
    """State shared by the limiter and valve reservations."""

    name: str

    def __init__(self) -> None:
        self.state = ReservationState.NONE
        self.activation: datetime | None = None
        self.release: datetime | None = None
        self.drill = False

    def _clear(self) -> None:
        self.state = ReservationState.NONE
        self.activation = None
        self.release = None
        self.drill = False

    def _check_times(
        self, activation: datetime, release: datetime | None, now: datetime
    ) -> CommandResult | None:
        if self.state != ReservationState.NONE:
            return CommandResult.REJECTED_BUSY
        if activation <= now:
            return CommandResult.REJECTED_TOO_LATE
        if release is not None and release <= activation:
            return CommandResult.REJECTED_INVALID
        return None

    def cancel(self, *, authenticated: bool, fresh: bool, now: datetime) -> CommandResult:
        """Withdraw a reservation before its activation; nothing else changes."""
        gate = _gate(authenticated, fresh)
        if gate is not None:
            return gate
        _aware(now, "now")
        if self.state != ReservationState.PENDING or (
            self.activation is not None and now >= self.activation
        ):
            return CommandResult.REJECTED_TOO_LATE
        self._clear()
        return CommandResult.ACCEPTED

    def next_deadline(self) -> datetime | None:
        """When :meth:`tick` must next be called."""
        if self.state == ReservationState.PENDING:
            return self.activation
        if self.state == ReservationState.ACTIVE:
            return self.release
        return None


class LimiterReservation(_Reservation):
    """Reserved change of the contract current (project object ``limiter_reservation``).

    ``limit_a`` is the limit in force; the Limiter's threshold_normal follows it.
    """

    name = "limiter_reservation"

    def __init__(self, limit_a: int, *, allowed_limits_a: frozenset[int] | None = None) -> None:
        super().__init__()
        self.limit_a = limit_a
        self.allowed_limits_a = allowed_limits_a
        self.new_limit_a = 0
        self._previous_a: int | None = None

    def reserve(
        self,
        new_limit_a: int,
        activation: datetime,
        *,
        release: datetime | None = None,
        drill: bool = False,
        authenticated: bool,
        fresh: bool,
        now: datetime,
    ) -> CommandResult:
        """Reserve ``new_limit_a`` from ``activation`` (until ``release``, if given)."""
        gate = _gate(authenticated, fresh)
        if gate is not None:
            return gate
        _aware(now, "now")
        _aware(activation, "activation")
        if release is not None:
            _aware(release, "release")
        if (
            type(new_limit_a) is not int
            or not 1 <= new_limit_a <= 0xFFFF
            or (self.allowed_limits_a is not None and new_limit_a not in self.allowed_limits_a)
        ):
            return CommandResult.REJECTED_INVALID
        bad = self._check_times(activation, release, now)
        if bad is not None:
            return bad
        self.state = ReservationState.PENDING
        self.new_limit_a, self.activation, self.release = new_limit_a, activation, release
        self.drill = bool(drill)
        return CommandResult.ACCEPTED

    def tick(self, now: datetime) -> list[Event]:
        """Apply what is due at ``now``: activation, then release."""
        _aware(now, "now")
        events: list[Event] = []
        if (
            self.state == ReservationState.PENDING
            and self.activation is not None
            and now >= self.activation
        ):
            if self.drill:
                events.append(DrillPerformed(self.name, "activation", self.activation))
            else:
                self._previous_a = self.limit_a
                self.limit_a = self.new_limit_a
                events.append(LimitChanged(self._previous_a, self.new_limit_a, self.activation))
            self.state = ReservationState.ACTIVE
        if self.state == ReservationState.ACTIVE:
            if self.release is None:
                self._clear()
                self._previous_a = None
            elif now >= self.release:
                if self.drill:
                    events.append(DrillPerformed(self.name, "release", self.release))
                elif self._previous_a is not None:
                    self.limit_a = self._previous_a
                    events.append(LimitRestored(self.limit_a, self.release))
                self._clear()
                self._previous_a = None
        return events

    def to_data(self) -> Data:
        """Read-back: {state enum, new_limit_a long-unsigned, activation_time, release_time,
        drill boolean}; times octet-string(12) or null-data."""
        return Data(
            DataType.STRUCTURE,
            (
                Data(DataType.ENUM, int(self.state)),
                Data(DataType.LONG_UNSIGNED, self.new_limit_a if self.state else 0),
                _time_data(self.activation),
                _time_data(self.release),
                Data(DataType.BOOLEAN, self.drill),
            ),
        )

    def write(
        self, value: Data, *, authenticated: bool, fresh: bool, now: datetime
    ) -> CommandResult:
        """The COSEM set path: the read-back layout with state PENDING reserves, NONE cancels."""
        gate = _gate(authenticated, fresh)
        if gate is not None:
            return gate
        fields = value.value
        if value.type != DataType.STRUCTURE or not isinstance(fields, tuple) or len(fields) != 5:
            return CommandResult.REJECTED_INVALID
        state, limit, activation, release, drill = fields
        if state == Data(DataType.ENUM, ReservationState.NONE):
            return self.cancel(authenticated=authenticated, fresh=fresh, now=now)
        start = _time_from(activation, "activation_time")
        end = _time_from(release, "release_time")
        if (
            state != Data(DataType.ENUM, ReservationState.PENDING)
            or start is None
            or limit.type != DataType.LONG_UNSIGNED
            or drill.type != DataType.BOOLEAN
            or not isinstance(limit.value, int)
            or (release.type != DataType.NULL and end is None)
        ):
            return CommandResult.REJECTED_INVALID
        return self.reserve(
            limit.value,
            start,
            release=end,
            drill=drill.value is True,
            authenticated=authenticated,
            fresh=fresh,
            now=now,
        )


class ValveReservation(_Reservation):
    """Reserved open/close command for a relayed gas or water valve (``*_valve_reservation``).

    ``position`` is the last commanded valve position.
    """

    def __init__(self, name: str, position: ValveAction = ValveAction.OPEN) -> None:
        super().__init__()
        self.name = name
        self.position = position
        self.action = position

    def reserve(
        self,
        action: ValveAction,
        activation: datetime,
        *,
        drill: bool = False,
        authenticated: bool,
        fresh: bool,
        now: datetime,
    ) -> CommandResult:
        gate = _gate(authenticated, fresh)
        if gate is not None:
            return gate
        _aware(now, "now")
        _aware(activation, "activation")
        if action not in tuple(ValveAction):
            return CommandResult.REJECTED_INVALID
        action = ValveAction(action)
        bad = self._check_times(activation, None, now)
        if bad is not None:
            return bad
        self.state = ReservationState.PENDING
        self.action, self.activation, self.drill = action, activation, bool(drill)
        return CommandResult.ACCEPTED

    def tick(self, now: datetime) -> list[Event]:
        _aware(now, "now")
        if (
            self.state != ReservationState.PENDING
            or self.activation is None
            or now < self.activation
        ):
            return []
        at = self.activation
        event: Event
        if self.drill:
            event = DrillPerformed(self.name, "activation", at)
        else:
            self.position = self.action
            event = ValveOperated(self.action, at)
        self._clear()
        return [event]

    def to_data(self) -> Data:
        """Read-back: {state enum, command enum, activation_time, drill boolean}."""
        return Data(
            DataType.STRUCTURE,
            (
                Data(DataType.ENUM, int(self.state)),
                Data(DataType.ENUM, int(self.action)),
                _time_data(self.activation),
                Data(DataType.BOOLEAN, self.drill),
            ),
        )

"""COSEM interface classes as server-side objects: attributes and methods by index.

Class ids, attribute and method indices follow the Blue Book (DLMS UA 1000-1, IEC 62056-6-2)
as reflected in gurux_dlms ``enums/ObjectType.py`` and ``objects/GXDLMS*.py`` (getValues,
getAttributeCount, getMethodCount, invoke). Every attribute converts to and from
:class:`~smartmeter_proto.aroute.axdr.Data`; a request the object cannot honour raises
:class:`CosemAccessError` carrying the data-access-result / action-result code for the reply.
Date-time attributes travel as octet-string(12) (Blue Book 4.1.6.1 date_time formatting).
Profile generic, push setup, association LN and security setup, which build on these, are
:mod:`.management`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

from ...errors import SessionError
from ..axdr import CosemDateTime, Data, DataType
from ..obis import Obis

__all__ = [
    "ActionItem",
    "ClassId",
    "Clock",
    "ControlState",
    "CosemAccessError",
    "CosemData",
    "CosemObject",
    "DataAccessResult",
    "DisconnectControl",
    "Limiter",
    "Register",
    "Unit",
    "ValueDefinition",
    "datetime_data",
    "datetime_from_data",
    "enum_data",
    "int_from_data",
    "items_from_data",
    "ln_data",
    "mismatch",
    "obis_from_data",
    "uint_data",
]


class ClassId(IntEnum):
    """COSEM interface class ids (gurux_dlms enums/ObjectType.py)."""

    DATA = 1
    REGISTER = 3
    PROFILE_GENERIC = 7
    CLOCK = 8
    ASSOCIATION_LN = 15
    PUSH_SETUP = 40
    SECURITY_SETUP = 64
    DISCONNECT_CONTROL = 70
    LIMITER = 71


class DataAccessResult(IntEnum):
    """data-access-result codes; action-result uses the same numbers (gurux enums/ErrorCode.py)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    OTHER_REASON = 250


class Unit(IntEnum):
    """The subset of the Blue Book unit enumeration we use (gurux_dlms enums/Unit.py)."""

    MINUTE = 6
    SECOND = 7
    W = 27
    VA = 28
    VAR = 29
    WH = 30
    VAH = 31
    VARH = 32
    A = 33
    V = 35
    HZ = 44
    OTHER = 254
    NO_UNIT = 255


class CosemAccessError(SessionError):
    """A get/set/action the object refuses; ``result`` (also ``hint``) is the reply code."""

    def __init__(self, result: DataAccessResult, message: str) -> None:
        self.result = result
        super().__init__(message, hint=int(result))


def mismatch(what: str, found: Data) -> CosemAccessError:
    return CosemAccessError(
        DataAccessResult.TYPE_UNMATCHED, f"{what}: unexpected {found.type!r} {found.value!r}"
    )


# --- small Data helpers -------------------------------------------------------------------


def ln_data(obis: Obis) -> Data:
    """A logical name as octet-string(6)."""
    return Data(DataType.OCTET_STRING, bytes(obis))


def enum_data(value: int) -> Data:
    return Data(DataType.ENUM, int(value))


def uint_data(value: int, tag: DataType) -> Data:
    return Data(tag, int(value))


def _take(d: Data, tag: DataType, what: str) -> object:
    if d.type != tag:
        raise mismatch(what, d)
    return d.value


def int_from_data(d: Data, tag: DataType, what: str) -> int:
    value = _take(d, tag, what)
    if not isinstance(value, int) or isinstance(value, bool):
        raise mismatch(what, d)
    return value


def _bool(d: Data, what: str) -> bool:
    value = _take(d, DataType.BOOLEAN, what)
    if not isinstance(value, bool):
        raise mismatch(what, d)
    return value


def _octets(d: Data, what: str) -> bytes:
    value = _take(d, DataType.OCTET_STRING, what)
    if not isinstance(value, bytes):
        raise mismatch(what, d)
    return value


def items_from_data(d: Data, tag: DataType, what: str, size: int | None = None) -> tuple[Data, ...]:
    value = _take(d, tag, what)
    if not isinstance(value, tuple) or (size is not None and len(value) != size):
        raise mismatch(what, d)
    return value


def obis_from_data(d: Data, what: str = "logical_name") -> Obis:
    raw = _octets(d, what)
    if len(raw) != 6:
        raise mismatch(what, d)
    return Obis.from_bytes(raw)


def datetime_data(value: CosemDateTime) -> Data:
    """A date_time as octet-string(12), the form COSEM attributes use."""
    return Data(DataType.OCTET_STRING, value.encode())


def datetime_from_data(d: Data, what: str = "date_time") -> CosemDateTime:
    """Accept octet-string(12) or the date-time [25] tag."""
    if d.type == DataType.DATE_TIME and isinstance(d.value, CosemDateTime):
        return d.value
    raw = _octets(d, what)
    if len(raw) != 12:
        raise mismatch(what, d)
    return CosemDateTime.decode(raw)


# --- structures of the Limiter --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueDefinition:
    """value_definition {class_id, logical_name, attribute_index} (Limiter monitored_value)."""

    class_id: int
    logical_name: Obis
    attribute_index: int

    def to_data(self) -> Data:
        return Data(
            DataType.STRUCTURE,
            (
                uint_data(self.class_id, DataType.LONG_UNSIGNED),
                ln_data(self.logical_name),
                uint_data(self.attribute_index, DataType.INTEGER),
            ),
        )

    @classmethod
    def from_data(cls, d: Data) -> ValueDefinition:
        c, ln, a = items_from_data(d, DataType.STRUCTURE, "value_definition", 3)
        return cls(
            int_from_data(c, DataType.LONG_UNSIGNED, "class_id"),
            obis_from_data(ln),
            int_from_data(a, DataType.INTEGER, "attribute_index"),
        )


@dataclass(frozen=True, slots=True)
class ActionItem:
    """action_item {script_logical_name, script_selector} (Limiter actions)."""

    script_logical_name: Obis
    script_selector: int

    def to_data(self) -> Data:
        return Data(
            DataType.STRUCTURE,
            (
                ln_data(self.script_logical_name),
                uint_data(self.script_selector, DataType.LONG_UNSIGNED),
            ),
        )

    @classmethod
    def from_data(cls, d: Data) -> ActionItem:
        ln, sel = items_from_data(d, DataType.STRUCTURE, "action_item", 2)
        return cls(
            obis_from_data(ln), int_from_data(sel, DataType.LONG_UNSIGNED, "script_selector")
        )


# --- the base class -----------------------------------------------------------------------


class CosemObject:
    """A server-side COSEM object; attribute 1 is always the logical name (read-only)."""

    class_id: ClassVar[int]
    version: ClassVar[int] = 0
    attribute_names: ClassVar[tuple[str, ...]]  # index 1.. in order
    method_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, logical_name: Obis) -> None:
        self.logical_name = logical_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.logical_name})"

    def get(self, index: int, access: Data | None = None, selector: int = 0) -> Data:
        """The value of attribute ``index``; ``selector``/``access`` is selective access."""
        self._check(index, len(self.attribute_names), "attribute")
        if selector or access is not None:
            return self._get_selective(index, selector, access)
        if index == 1:
            return ln_data(self.logical_name)
        return self._get(index)

    def set(self, index: int, value: Data) -> None:
        self._check(index, len(self.attribute_names), "attribute")
        if index == 1:
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "logical_name is static")
        self._set(index, value)

    def invoke(self, index: int, parameter: Data | None = None) -> Data | None:
        """Run method ``index``; returns the optional return parameters."""
        self._check(index, len(self.method_names), "method")
        return self._invoke(index, Data(DataType.NULL, None) if parameter is None else parameter)

    def _check(self, index: int, count: int, kind: str) -> None:
        if not 1 <= index <= count:
            raise CosemAccessError(
                DataAccessResult.READ_WRITE_DENIED,
                f"{type(self).__name__} has no {kind} {index} (1..{count})",
            )

    def _denied(self, index: int, what: str = "write") -> CosemAccessError:
        name = self.attribute_names[index - 1]
        return CosemAccessError(DataAccessResult.READ_WRITE_DENIED, f"{what} {name} denied")

    def _get(self, index: int) -> Data:
        raise self._denied(index, "read")

    def _set(self, index: int, value: Data) -> None:
        raise self._denied(index)

    def _get_selective(self, index: int, selector: int, access: Data | None) -> Data:
        raise CosemAccessError(
            DataAccessResult.READ_WRITE_DENIED,
            f"no selective access on {self.attribute_names[index - 1]}",
        )

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        raise CosemAccessError(
            DataAccessResult.READ_WRITE_DENIED, f"{self.method_names[index - 1]} not supported"
        )


class CosemData(CosemObject):
    """Data (class 1): 2 value, any type."""

    class_id = ClassId.DATA
    attribute_names = ("logical_name", "value")

    def __init__(self, logical_name: Obis, value: Data, *, writable: bool = False) -> None:
        super().__init__(logical_name)
        self.value = value
        self.writable = writable

    def _get(self, index: int) -> Data:
        return self.value

    def _set(self, index: int, value: Data) -> None:
        if not self.writable:
            raise self._denied(index)
        self.value = value


class Register(CosemObject):
    """Register (class 3): 2 value, 3 scaler_unit {integer, enum}; method 1 reset."""

    class_id = ClassId.REGISTER
    attribute_names = ("logical_name", "value", "scaler_unit")
    method_names = ("reset",)

    def __init__(self, logical_name: Obis, value: Data, scaler: int, unit: Unit | int) -> None:
        super().__init__(logical_name)
        self.value = value
        self.scaler = scaler
        self.unit = unit

    def scaler_unit(self) -> Data:
        return Data(DataType.STRUCTURE, (Data(DataType.INTEGER, self.scaler), enum_data(self.unit)))

    def physical(self) -> float:
        """The value times 10**scaler, in ``unit``."""
        raw = self.value.value
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise TypeError(f"register value is not numeric: {raw!r}")
        return float(raw) * 10.0**self.scaler

    def _get(self, index: int) -> Data:
        return self.value if index == 2 else self.scaler_unit()

    def _set(self, index: int, value: Data) -> None:
        if index == 2:
            if value.type != self.value.type:
                raise mismatch("register value", value)
            self.value = value
            return
        scaler, unit = items_from_data(value, DataType.STRUCTURE, "scaler_unit", 2)
        self.scaler = int_from_data(scaler, DataType.INTEGER, "scaler")
        self.unit = int_from_data(unit, DataType.ENUM, "unit")

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        self.value = Data(self.value.type, 0)  # reset: Blue Book default for a register
        return None


class Clock(CosemObject):
    """Clock (class 8): 2 time .. 9 clock_base; methods 1..6 (6 shift_time)."""

    class_id = ClassId.CLOCK
    attribute_names = (
        "logical_name",
        "time",
        "time_zone",
        "status",
        "daylight_savings_begin",
        "daylight_savings_end",
        "daylight_savings_deviation",
        "daylight_savings_enabled",
        "clock_base",
    )
    method_names = (
        "adjust_to_quarter",
        "adjust_to_measuring_period",
        "adjust_to_minute",
        "adjust_to_preset_time",
        "preset_adjusting_time",
        "shift_time",
    )
    #: clock_base enum: 1 internal crystal (gurux objects/enums/ClockBase.py).
    CLOCK_BASE_CRYSTAL: Final = 1

    def __init__(self, logical_name: Obis, time: CosemDateTime, *, time_zone: int) -> None:
        super().__init__(logical_name)
        self.time = time
        self.time_zone = time_zone  # minutes, Blue Book sign
        self.status = 0
        self.dst_begin = bytes([0xFF] * 12)
        self.dst_end = bytes([0xFF] * 12)
        self.dst_deviation = 0
        self.dst_enabled = False
        self.clock_base = self.CLOCK_BASE_CRYSTAL
        self.shift_requests: list[int] = []

    def _get(self, index: int) -> Data:
        match index:
            case 2:
                return datetime_data(self.time)
            case 3:
                return Data(DataType.LONG, self.time_zone)
            case 4:
                return Data(DataType.UNSIGNED, self.status)
            case 5:
                return Data(DataType.OCTET_STRING, self.dst_begin)
            case 6:
                return Data(DataType.OCTET_STRING, self.dst_end)
            case 7:
                return Data(DataType.INTEGER, self.dst_deviation)
            case 8:
                return Data(DataType.BOOLEAN, self.dst_enabled)
            case _:
                return enum_data(self.clock_base)

    def _set(self, index: int, value: Data) -> None:
        match index:
            case 2:
                self.time = datetime_from_data(value, "time")
            case 3:
                self.time_zone = int_from_data(value, DataType.LONG, "time_zone")
            case 8:
                self.dst_enabled = _bool(value, "daylight_savings_enabled")
            case _:
                raise self._denied(index)

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        if index != 6:
            return super()._invoke(index, parameter)
        seconds = int_from_data(parameter, DataType.LONG, "shift_time")
        if not -900 <= seconds <= 900:  # Blue Book: shift_time range -900..900 s
            raise CosemAccessError(DataAccessResult.OTHER_REASON, "shift_time out of range")
        self.shift_requests.append(seconds)  # the meter's time keeper applies it (sans-IO)
        return None


class ControlState(IntEnum):
    """Disconnect control control_state (gurux objects/enums/ControlState.py)."""

    DISCONNECTED = 0
    CONNECTED = 1
    READY_FOR_RECONNECTION = 2


# Remote transitions by control_mode (Blue Book disconnect control state diagram, as summarised
# in gurux objects/enums/ControlMode.py): b/c remote_disconnect in modes 1..6; remote_reconnect
# is d (Disconnected -> Connected) in modes 1, 3, 5, 6 and a (-> Ready_for_reconnection) in 2, 4.
_RECONNECT_TO: Final[dict[int, ControlState]] = {
    1: ControlState.CONNECTED,
    3: ControlState.CONNECTED,
    5: ControlState.CONNECTED,
    6: ControlState.CONNECTED,
    2: ControlState.READY_FOR_RECONNECTION,
    4: ControlState.READY_FOR_RECONNECTION,
}


class DisconnectControl(CosemObject):
    """Disconnect control (class 70): 2 output_state, 3 control_state, 4 control_mode;
    methods 1 remote_disconnect, 2 remote_reconnect."""

    class_id = ClassId.DISCONNECT_CONTROL
    attribute_names = ("logical_name", "output_state", "control_state", "control_mode")
    method_names = ("remote_disconnect", "remote_reconnect")

    def __init__(self, logical_name: Obis, *, control_mode: int = 1) -> None:
        super().__init__(logical_name)
        self.control_state = ControlState.CONNECTED
        self.control_mode = control_mode

    @property
    def output_state(self) -> bool:
        return self.control_state == ControlState.CONNECTED

    def _get(self, index: int) -> Data:
        if index == 2:
            return Data(DataType.BOOLEAN, self.output_state)
        return enum_data(self.control_state if index == 3 else self.control_mode)

    def _set(self, index: int, value: Data) -> None:
        if index != 4:
            raise self._denied(index)
        mode = int_from_data(value, DataType.ENUM, "control_mode")
        if not 0 <= mode <= 6:
            raise CosemAccessError(DataAccessResult.OTHER_REASON, f"control_mode {mode}")
        self.control_mode = mode

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        if self.control_mode == 0:
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "control_mode 0: always on")
        if index == 1:
            self.control_state = ControlState.DISCONNECTED
        elif self.control_state == ControlState.DISCONNECTED:
            self.control_state = _RECONNECT_TO[self.control_mode]
        return None


class Limiter(CosemObject):
    """Limiter (class 71): 2 monitored_value .. 11 actions; no methods."""

    class_id = ClassId.LIMITER
    attribute_names = (
        "logical_name",
        "monitored_value",
        "threshold_active",
        "threshold_normal",
        "threshold_emergency",
        "min_over_threshold_duration",
        "min_under_threshold_duration",
        "emergency_profile",
        "emergency_profile_group_id_list",
        "emergency_profile_active",
        "actions",
    )

    def __init__(
        self,
        logical_name: Obis,
        monitored_value: ValueDefinition,
        *,
        threshold_normal: Data,
        threshold_emergency: Data,
        min_over_threshold_duration: int,
        min_under_threshold_duration: int,
        action_over: ActionItem,
        action_under: ActionItem,
    ) -> None:
        super().__init__(logical_name)
        self.monitored_value = monitored_value
        self.threshold_normal = threshold_normal
        self.threshold_emergency = threshold_emergency
        self.min_over_threshold_duration = min_over_threshold_duration
        self.min_under_threshold_duration = min_under_threshold_duration
        self.emergency_profile = Data(
            DataType.STRUCTURE,
            (
                Data(DataType.LONG_UNSIGNED, 0),
                Data(DataType.OCTET_STRING, bytes([0xFF] * 12)),
                Data(DataType.DOUBLE_LONG_UNSIGNED, 0),
            ),
        )
        self.emergency_group_ids: tuple[int, ...] = ()
        self.emergency_profile_active = False
        self.action_over = action_over
        self.action_under = action_under

    @property
    def threshold_active(self) -> Data:
        """The threshold in force: emergency while an emergency profile is active."""
        return self.threshold_emergency if self.emergency_profile_active else self.threshold_normal

    def _get(self, index: int) -> Data:
        match index:
            case 2:
                return self.monitored_value.to_data()
            case 3:
                return self.threshold_active
            case 4:
                return self.threshold_normal
            case 5:
                return self.threshold_emergency
            case 6:
                return Data(DataType.DOUBLE_LONG_UNSIGNED, self.min_over_threshold_duration)
            case 7:
                return Data(DataType.DOUBLE_LONG_UNSIGNED, self.min_under_threshold_duration)
            case 8:
                return self.emergency_profile
            case 9:
                return Data(
                    DataType.ARRAY,
                    tuple(Data(DataType.LONG_UNSIGNED, g) for g in self.emergency_group_ids),
                )
            case 10:
                return Data(DataType.BOOLEAN, self.emergency_profile_active)
            case _:
                return Data(
                    DataType.STRUCTURE, (self.action_over.to_data(), self.action_under.to_data())
                )

    def _set(self, index: int, value: Data) -> None:
        match index:
            case 4:
                if value.type != self.threshold_normal.type:
                    raise mismatch("threshold_normal", value)
                self.threshold_normal = value
            case 5:
                if value.type != self.threshold_emergency.type:
                    raise mismatch("threshold_emergency", value)
                self.threshold_emergency = value
            case 6:
                self.min_over_threshold_duration = int_from_data(
                    value, DataType.DOUBLE_LONG_UNSIGNED, "min_over_threshold_duration"
                )
            case 7:
                self.min_under_threshold_duration = int_from_data(
                    value, DataType.DOUBLE_LONG_UNSIGNED, "min_under_threshold_duration"
                )
            case 11:
                over, under = items_from_data(value, DataType.STRUCTURE, "actions", 2)
                self.action_over = ActionItem.from_data(over)
                self.action_under = ActionItem.from_data(under)
            case _:
                raise self._denied(index)

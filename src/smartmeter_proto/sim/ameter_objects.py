"""COSEM objects of the simulated A-route meter whose writes need an authenticated, fresh request.

The server association hands each set/action a :class:`~smartmeter_proto.aroute.context.
RequestContext`; the objects here implement :class:`~smartmeter_proto.aroute.context.
ContextualObject` and refuse the plain ``set``/``invoke`` path (no context = no proof of
authentication). A refusal raises :class:`~smartmeter_proto.aroute.cosem.CosemAccessError`
with the data-access-result for the reply; the reservation command result stays readable in
``last_result``.
"""

from __future__ import annotations

from typing import Final

from ..aroute.axdr import Data, DataType
from ..aroute.context import RequestContext
from ..aroute.cosem import (
    ActionItem,
    ClassId,
    CosemAccessError,
    CosemObject,
    DataAccessResult,
    DisconnectControl,
    Limiter,
    ValueDefinition,
    datetime_from_data,
)
from ..aroute.obis import Obis
from ..aroute.profile import (
    CommandResult,
    LimiterReservation,
    ReservationState,
    ValveAction,
    ValveReservation,
)

__all__ = [
    "GatedDisconnectControl",
    "GatedLimiter",
    "LimiterReservationObject",
    "ValveReservationObject",
    "require_context",
]

#: What a refused reservation command answers (data-access-result of the Set-Response).
#: Project choice: the gate and the busy/late refusals are access refusals, a malformed
#: structure is a type mismatch.
_REFUSAL: Final[dict[CommandResult, DataAccessResult]] = {
    CommandResult.REJECTED_UNAUTHENTICATED: DataAccessResult.READ_WRITE_DENIED,
    CommandResult.REJECTED_STALE: DataAccessResult.READ_WRITE_DENIED,
    CommandResult.REJECTED_INVALID: DataAccessResult.TYPE_UNMATCHED,
    CommandResult.REJECTED_BUSY: DataAccessResult.TEMPORARY_FAILURE,
    CommandResult.REJECTED_TOO_LATE: DataAccessResult.OTHER_REASON,
}


def require_context(context: RequestContext) -> None:
    """Raise READ_WRITE_DENIED unless the request was authenticated and fresh."""
    if context.authenticated is not True:
        raise CosemAccessError(
            DataAccessResult.READ_WRITE_DENIED,
            "needs an authenticated (ciphered, tag verified) request",
        )
    if context.fresh is not True:
        raise CosemAccessError(
            DataAccessResult.READ_WRITE_DENIED, "needs a fresh request (invocation counter not new)"
        )


def _no_context(obj: CosemObject, what: str) -> CosemAccessError:
    return CosemAccessError(
        DataAccessResult.READ_WRITE_DENIED,
        f"{type(obj).__name__} {what}: only through an authenticated request",
    )


def _answer(result: CommandResult) -> None:
    if result != CommandResult.ACCEPTED:
        raise CosemAccessError(_REFUSAL[result], f"reservation refused: {result.name}")


class _ReservationObject(CosemObject):
    """Data (class 1) whose value (attribute 2) is a reservation structure."""

    class_id = ClassId.DATA
    attribute_names = ("logical_name", "value")

    def __init__(self, logical_name: Obis) -> None:
        super().__init__(logical_name)
        self.last_result: CommandResult | None = None

    def _set(self, index: int, value: Data) -> None:
        raise _no_context(self, "write")

    def _write(self, value: Data, context: RequestContext) -> CommandResult:
        raise NotImplementedError

    def set_in(self, context: RequestContext, index: int, value: Data) -> None:
        """Write the reservation structure: state PENDING reserves, NONE cancels."""
        self._check(index, len(self.attribute_names), "attribute")
        if index == 1:
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "logical_name is static")
        self.last_result = self._write(value, context)
        _answer(self.last_result)

    def invoke_in(self, context: RequestContext, index: int, parameter: Data | None) -> Data | None:
        return self.invoke(index, parameter)  # Data has no methods: refused by the index check


class LimiterReservationObject(_ReservationObject):
    """``limiter_reservation`` (project-defined, class 1) over :class:`LimiterReservation`."""

    def __init__(self, logical_name: Obis, reservation: LimiterReservation) -> None:
        super().__init__(logical_name)
        self.reservation = reservation

    def _get(self, index: int) -> Data:
        return self.reservation.to_data()

    def _write(self, value: Data, context: RequestContext) -> CommandResult:
        return self.reservation.write(
            value, authenticated=context.authenticated, fresh=context.fresh, now=context.now
        )


class ValveReservationObject(_ReservationObject):
    """``gas/water_valve_reservation`` (project-defined, class 1) over :class:`ValveReservation`.

    Written with the read-back layout {state enum, command enum, activation_time, drill}.
    """

    def __init__(self, logical_name: Obis, reservation: ValveReservation) -> None:
        super().__init__(logical_name)
        self.reservation = reservation

    def _get(self, index: int) -> Data:
        return self.reservation.to_data()

    def _write(self, value: Data, context: RequestContext) -> CommandResult:
        auth, fresh, now = context.authenticated, context.fresh, context.now
        if auth is not True or fresh is not True:
            # ValveReservation.cancel applies the same gate and names the reason.
            return self.reservation.cancel(authenticated=auth, fresh=fresh, now=now)
        fields = value.value
        if value.type != DataType.STRUCTURE or not isinstance(fields, tuple) or len(fields) != 4:
            return CommandResult.REJECTED_INVALID
        state, command, activation, drill = fields
        if state == Data(DataType.ENUM, ReservationState.NONE):
            return self.reservation.cancel(authenticated=auth, fresh=fresh, now=now)
        if (
            state != Data(DataType.ENUM, ReservationState.PENDING)
            or command.type != DataType.ENUM
            or drill.type != DataType.BOOLEAN
            or not isinstance(command.value, int)
            or command.value not in tuple(ValveAction)
        ):
            return CommandResult.REJECTED_INVALID
        try:
            start = datetime_from_data(activation, "activation_time").to_datetime()
        except (CosemAccessError, ValueError, OverflowError):
            return CommandResult.REJECTED_INVALID
        if start.tzinfo is None:
            return CommandResult.REJECTED_INVALID
        return self.reservation.reserve(
            ValveAction(command.value),
            start,
            drill=drill.value is True,
            authenticated=auth,
            fresh=fresh,
            now=now,
        )


class GatedLimiter(Limiter):
    """Limiter (class 71) whose thresholds change only through an authenticated, fresh set.

    ``reservation.limit_a`` is the contract current in force; :meth:`follow` copies it into
    threshold_normal, a direct write of threshold_normal copies it back.
    """

    def __init__(
        self,
        logical_name: Obis,
        monitored_value: ValueDefinition,
        *,
        reservation: LimiterReservation,
        threshold_type: DataType,
        min_over_threshold_duration: int,
        min_under_threshold_duration: int,
        action_over: ActionItem,
        action_under: ActionItem,
    ) -> None:
        limit = Data(threshold_type, reservation.limit_a)
        super().__init__(
            logical_name,
            monitored_value,
            threshold_normal=limit,
            threshold_emergency=limit,
            min_over_threshold_duration=min_over_threshold_duration,
            min_under_threshold_duration=min_under_threshold_duration,
            action_over=action_over,
            action_under=action_under,
        )
        self.reservation = reservation

    def follow(self) -> None:
        """threshold_normal := the reservation's limit in force."""
        self.threshold_normal = Data(self.threshold_normal.type, self.reservation.limit_a)

    def _set(self, index: int, value: Data) -> None:
        raise _no_context(self, "write")

    def set_in(self, context: RequestContext, index: int, value: Data) -> None:
        require_context(context)
        self._check(index, len(self.attribute_names), "attribute")
        if index == 1:
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "logical_name is static")
        Limiter._set(self, index, value)
        if index == 4 and isinstance(self.threshold_normal.value, int):
            self.reservation.limit_a = self.threshold_normal.value

    def invoke_in(self, context: RequestContext, index: int, parameter: Data | None) -> Data | None:
        require_context(context)
        return self.invoke(index, parameter)  # class 71 has no methods: refused


class GatedDisconnectControl(DisconnectControl):
    """Disconnect control (class 70): remote disconnect/reconnect and control_mode only
    through an authenticated, fresh request (supply switch, gas and water valves)."""

    def _set(self, index: int, value: Data) -> None:
        raise _no_context(self, "write")

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        raise _no_context(self, "action")

    def set_in(self, context: RequestContext, index: int, value: Data) -> None:
        require_context(context)
        self._check(index, len(self.attribute_names), "attribute")
        if index == 1:
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "logical_name is static")
        DisconnectControl._set(self, index, value)

    def invoke_in(self, context: RequestContext, index: int, parameter: Data | None) -> Data | None:
        require_context(context)
        self._check(index, len(self.method_names), "method")
        return DisconnectControl._invoke(
            self, index, Data(DataType.NULL, None) if parameter is None else parameter
        )

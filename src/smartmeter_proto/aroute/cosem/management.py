"""COSEM objects about other objects and the association itself.

Profile generic (class 7) with selective access (range/entry descriptors, Blue Book access
selectors 1 and 2), push setup (class 40), association LN (class 15) and security setup
(class 64), with the capture_object_definition they share. Class ids, attribute and method
indices follow the Blue Book (DLMS UA 1000-1) as reflected in gurux_dlms
``objects/GXDLMSProfileGeneric.py``, ``GXDLMSPushSetup.py``, ``GXDLMSAssociationLogicalName.py``
and ``GXDLMSSecuritySetup.py``. The base class, result codes and Data helpers are
:mod:`.objects`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

from ..axdr import Data, DataType
from ..obis import Obis
from .objects import (
    ClassId,
    CosemAccessError,
    CosemObject,
    DataAccessResult,
    datetime_from_data,
    enum_data,
    int_from_data,
    items_from_data,
    ln_data,
    mismatch,
    obis_from_data,
    uint_data,
)

__all__ = [
    "AccessRights",
    "AssociationLN",
    "CaptureObject",
    "EntryDescriptor",
    "ProfileGeneric",
    "PushSetup",
    "RangeDescriptor",
    "SecuritySetup",
    "SortMethod",
    "parse_selective_access",
]


# --- capture_object_definition, shared by profile generic and push setup ------------------


@dataclass(frozen=True, slots=True)
class CaptureObject:
    """capture_object_definition {class_id, logical_name, attribute_index, data_index}."""

    class_id: int
    logical_name: Obis
    attribute_index: int
    data_index: int = 0

    def to_data(self) -> Data:
        return Data(
            DataType.STRUCTURE,
            (
                uint_data(self.class_id, DataType.LONG_UNSIGNED),
                ln_data(self.logical_name),
                uint_data(self.attribute_index, DataType.INTEGER),
                uint_data(self.data_index, DataType.LONG_UNSIGNED),
            ),
        )

    @classmethod
    def from_data(cls, d: Data) -> CaptureObject:
        c, ln, a, i = items_from_data(d, DataType.STRUCTURE, "capture_object_definition", 4)
        return cls(
            int_from_data(c, DataType.LONG_UNSIGNED, "class_id"),
            obis_from_data(ln),
            int_from_data(a, DataType.INTEGER, "attribute_index"),
            int_from_data(i, DataType.LONG_UNSIGNED, "data_index"),
        )


# --- Profile generic (class 7) and selective access -------------------------------------


class SortMethod(IntEnum):
    """Profile generic sort_method (gurux objects/enums/SortMethod.py); we keep FIFO only."""

    FIFO = 1
    LIFO = 2
    LARGEST = 3
    SMALLEST = 4
    NEAREST_TO_ZERO = 5
    FAREST_FROM_ZERO = 6


@dataclass(frozen=True, slots=True)
class RangeDescriptor:
    """Access selector 1: {restricting_object, from_value, to_value, selected_values}."""

    SELECTOR: ClassVar[int] = 1
    restricting_object: CaptureObject
    from_value: Data
    to_value: Data
    selected_values: tuple[CaptureObject, ...] = ()

    def to_data(self) -> Data:
        return Data(
            DataType.STRUCTURE,
            (
                self.restricting_object.to_data(),
                self.from_value,
                self.to_value,
                Data(DataType.ARRAY, tuple(c.to_data() for c in self.selected_values)),
            ),
        )

    @classmethod
    def from_data(cls, d: Data) -> RangeDescriptor:
        obj, lo, hi, sel = items_from_data(d, DataType.STRUCTURE, "range_descriptor", 4)
        columns = tuple(
            CaptureObject.from_data(c)
            for c in items_from_data(sel, DataType.ARRAY, "selected_values")
        )
        return cls(CaptureObject.from_data(obj), lo, hi, columns)


@dataclass(frozen=True, slots=True)
class EntryDescriptor:
    """Access selector 2: entries and columns, 1-based; a ``to_*`` of 0 means "to the last"."""

    SELECTOR: ClassVar[int] = 2
    from_entry: int = 1
    to_entry: int = 0
    from_selected_value: int = 1
    to_selected_value: int = 0

    def to_data(self) -> Data:
        return Data(
            DataType.STRUCTURE,
            (
                Data(DataType.DOUBLE_LONG_UNSIGNED, self.from_entry),
                Data(DataType.DOUBLE_LONG_UNSIGNED, self.to_entry),
                Data(DataType.LONG_UNSIGNED, self.from_selected_value),
                Data(DataType.LONG_UNSIGNED, self.to_selected_value),
            ),
        )

    @classmethod
    def from_data(cls, d: Data) -> EntryDescriptor:
        fe, te, fv, tv = items_from_data(d, DataType.STRUCTURE, "entry_descriptor", 4)
        return cls(
            int_from_data(fe, DataType.DOUBLE_LONG_UNSIGNED, "from_entry"),
            int_from_data(te, DataType.DOUBLE_LONG_UNSIGNED, "to_entry"),
            int_from_data(fv, DataType.LONG_UNSIGNED, "from_selected_value"),
            int_from_data(tv, DataType.LONG_UNSIGNED, "to_selected_value"),
        )


def parse_selective_access(selector: int, parameters: Data) -> RangeDescriptor | EntryDescriptor:
    """The access descriptor for ``selector`` 1 (range) or 2 (entry)."""
    if selector == RangeDescriptor.SELECTOR:
        return RangeDescriptor.from_data(parameters)
    if selector == EntryDescriptor.SELECTOR:
        return EntryDescriptor.from_data(parameters)
    raise CosemAccessError(DataAccessResult.OTHER_REASON, f"access selector {selector} unknown")


def _order_key(d: Data, is_time: bool) -> tuple[int, int | float | bytes]:
    """A sort key for range access: numbers by value, date-times by date and time fields."""
    if isinstance(d.value, bool):
        return (0, int(d.value))
    if isinstance(d.value, int | float):
        return (0, d.value)
    if is_time:
        raw = datetime_from_data(d, "range value").encode()
        return (1, raw[:4] + raw[5:9])  # year, month, day, hour..hundredths (not day-of-week)
    if isinstance(d.value, bytes):
        return (1, d.value)
    raise mismatch("range value", d)


def _same_column(a: CaptureObject, b: CaptureObject) -> bool:
    return (a.class_id, a.logical_name, a.attribute_index) == (
        b.class_id,
        b.logical_name,
        b.attribute_index,
    )


class ProfileGeneric(CosemObject):
    """Profile generic (class 7, version 1): 2 buffer .. 8 profile_entries; 1 reset, 2 capture.

    ``source`` resolves a capture object to its current value for the capture method.
    """

    class_id = ClassId.PROFILE_GENERIC
    version = 1
    attribute_names = (
        "logical_name",
        "buffer",
        "capture_objects",
        "capture_period",
        "sort_method",
        "sort_object",
        "entries_in_use",
        "profile_entries",
    )
    method_names = ("reset", "capture")

    def __init__(
        self,
        logical_name: Obis,
        capture_objects: Sequence[CaptureObject],
        *,
        capture_period: int,
        profile_entries: int,
        source: Callable[[CaptureObject], Data] | None = None,
    ) -> None:
        super().__init__(logical_name)
        self.capture_objects = tuple(capture_objects)
        self.capture_period = capture_period  # seconds; 0 = asynchronous (event log)
        self.profile_entries = profile_entries
        self.buffer: list[tuple[Data, ...]] = []
        self.source = source

    @property
    def entries_in_use(self) -> int:
        return len(self.buffer)

    def capture_row(self, row: Sequence[Data]) -> None:
        """Append one entry (FIFO: the oldest entry goes when the buffer is full)."""
        if len(row) != len(self.capture_objects):
            raise ValueError(f"row has {len(row)} values, {len(self.capture_objects)} columns")
        self.buffer.append(tuple(row))
        del self.buffer[: max(0, len(self.buffer) - self.profile_entries)]

    def select(self, descriptor: RangeDescriptor | EntryDescriptor) -> list[tuple[Data, ...]]:
        """The buffer entries (and columns) the descriptor selects."""
        if isinstance(descriptor, EntryDescriptor):
            rows = self.buffer[
                max(descriptor.from_entry, 1) - 1 : descriptor.to_entry or len(self.buffer)
            ]
            last = descriptor.to_selected_value or len(self.capture_objects)
            return [r[max(descriptor.from_selected_value, 1) - 1 : last] for r in rows]
        at = next(
            (
                i
                for i, c in enumerate(self.capture_objects)
                if _same_column(c, descriptor.restricting_object)
            ),
            None,
        )
        if at is None:
            raise CosemAccessError(
                DataAccessResult.OTHER_REASON, "restricting object is not a capture object"
            )
        column = self.capture_objects[at]
        is_time = column.class_id == ClassId.CLOCK and column.attribute_index == 2
        lo = _order_key(descriptor.from_value, is_time)
        hi = _order_key(descriptor.to_value, is_time)
        picked = [r for r in self.buffer if lo <= _order_key(r[at], is_time) <= hi]
        if not descriptor.selected_values:
            return picked
        wanted = []
        for sel in descriptor.selected_values:
            index = next(
                (i for i, c in enumerate(self.capture_objects) if _same_column(c, sel)), None
            )
            if index is None:
                raise CosemAccessError(DataAccessResult.OTHER_REASON, "unknown selected value")
            wanted.append(index)
        return [tuple(r[i] for i in wanted) for r in picked]

    @staticmethod
    def _rows(rows: Sequence[tuple[Data, ...]]) -> Data:
        return Data(DataType.ARRAY, tuple(Data(DataType.STRUCTURE, r) for r in rows))

    def _get_selective(self, index: int, selector: int, access: Data | None) -> Data:
        if index != 2 or access is None:
            return super()._get_selective(index, selector, access)
        return self._rows(self.select(parse_selective_access(selector, access)))

    def _get(self, index: int) -> Data:
        match index:
            case 2:
                return self._rows(self.buffer)
            case 3:
                return Data(DataType.ARRAY, tuple(c.to_data() for c in self.capture_objects))
            case 4:
                return Data(DataType.DOUBLE_LONG_UNSIGNED, self.capture_period)
            case 5:
                return enum_data(SortMethod.FIFO)
            case 6:
                return CaptureObject(0, Obis(0, 0, 0, 0, 0, 0), 0, 0).to_data()
            case 7:
                return Data(DataType.DOUBLE_LONG_UNSIGNED, self.entries_in_use)
            case _:
                return Data(DataType.DOUBLE_LONG_UNSIGNED, self.profile_entries)

    def _set(self, index: int, value: Data) -> None:
        match index:
            case 3:  # new columns: the old entries no longer fit (Blue Book: buffer cleared)
                items = items_from_data(value, DataType.ARRAY, "capture_objects")
                self.capture_objects = tuple(CaptureObject.from_data(c) for c in items)
                self.buffer.clear()
            case 4:
                self.capture_period = int_from_data(
                    value, DataType.DOUBLE_LONG_UNSIGNED, "capture_period"
                )
            case 8:
                entries = int_from_data(value, DataType.DOUBLE_LONG_UNSIGNED, "profile_entries")
                self.profile_entries = entries
                del self.buffer[: max(0, len(self.buffer) - entries)]
            case _:
                raise self._denied(index)

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        if index == 1:
            self.buffer.clear()
            return None
        if self.source is None:
            raise CosemAccessError(DataAccessResult.TEMPORARY_FAILURE, "no capture source")
        self.capture_row([self.source(c) for c in self.capture_objects])
        return None


# --- Push setup (class 40) ---------------------------------------------------------------


class PushSetup(CosemObject):
    """Push setup (class 40, version 0): 2 push_object_list .. 7 repetition_delay; 1 push.

    ``push`` queues the values of ``push_object_list`` (from ``source``) in ``pending``;
    the meter model turns each into a data-notification.
    """

    class_id = ClassId.PUSH_SETUP
    attribute_names = (
        "logical_name",
        "push_object_list",
        "send_destination_and_method",
        "communication_window",
        "randomisation_start_interval",
        "number_of_retries",
        "repetition_delay",
    )
    method_names = ("push",)

    def __init__(
        self,
        logical_name: Obis,
        push_objects: Sequence[CaptureObject],
        *,
        destination: bytes,
        transport_service: int = 0,
        message: int = 0,
        randomisation_start_interval: int = 0,
        number_of_retries: int = 0,
        repetition_delay: int = 0,
        source: Callable[[CaptureObject], Data] | None = None,
    ) -> None:
        super().__init__(logical_name)
        self.push_objects = tuple(push_objects)
        self.destination = destination
        self.transport_service = transport_service
        self.message = message
        self.communication_window: tuple[tuple[bytes, bytes], ...] = ()
        self.randomisation_start_interval = randomisation_start_interval
        self.number_of_retries = number_of_retries
        self.repetition_delay = repetition_delay
        self.source = source
        self.pending: list[Data] = []

    def collect(self) -> Data:
        """The structure of pushed values, in push_object_list order."""
        if self.source is None:
            raise CosemAccessError(DataAccessResult.TEMPORARY_FAILURE, "no push source")
        return Data(DataType.STRUCTURE, tuple(self.source(c) for c in self.push_objects))

    def _get(self, index: int) -> Data:
        match index:
            case 2:
                return Data(DataType.ARRAY, tuple(c.to_data() for c in self.push_objects))
            case 3:
                return Data(
                    DataType.STRUCTURE,
                    (
                        enum_data(self.transport_service),
                        Data(DataType.OCTET_STRING, self.destination),
                        enum_data(self.message),
                    ),
                )
            case 4:
                return Data(
                    DataType.ARRAY,
                    tuple(
                        Data(
                            DataType.STRUCTURE,
                            (Data(DataType.OCTET_STRING, a), Data(DataType.OCTET_STRING, b)),
                        )
                        for a, b in self.communication_window
                    ),
                )
            case 5:
                return Data(DataType.LONG_UNSIGNED, self.randomisation_start_interval)
            case 6:
                return Data(DataType.UNSIGNED, self.number_of_retries)
            case _:
                return Data(DataType.LONG_UNSIGNED, self.repetition_delay)

    def _set(self, index: int, value: Data) -> None:
        match index:
            case 5:
                self.randomisation_start_interval = int_from_data(
                    value, DataType.LONG_UNSIGNED, "randomisation_start_interval"
                )
            case 6:
                self.number_of_retries = int_from_data(
                    value, DataType.UNSIGNED, "number_of_retries"
                )
            case 7:
                self.repetition_delay = int_from_data(
                    value, DataType.LONG_UNSIGNED, "repetition_delay"
                )
            case _:
                raise self._denied(index)

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        self.pending.append(self.collect())
        return None


# --- Association LN (class 15) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessRights:
    """Per-object rights: (index, mode) pairs. Attribute modes 0 none, 1 read, 2 write,
    3 read-write; method modes 0 none, 1 access (Blue Book association LN access_rights)."""

    attribute_access: tuple[tuple[int, int], ...]
    method_access: tuple[tuple[int, int], ...] = ()

    @classmethod
    def read_only(cls, obj: CosemObject) -> AccessRights:
        return cls(
            tuple((i, 1) for i in range(1, len(obj.attribute_names) + 1)),
            tuple((i, 0) for i in range(1, len(obj.method_names) + 1)),
        )


#: DLMS UA application context / mechanism OID prefix 2.16.756.5.8 (joint-iso-ccitt country
#: Switzerland 756, identified-organization 5, DLMS UA 8), as gurux builds in attribute 4/6.
_DLMS_UA_OID: Final = (2, 16, 756, 5, 8)


def _oid_structure(arc: int, last: int) -> Data:
    kinds = (
        DataType.UNSIGNED,
        DataType.UNSIGNED,
        DataType.LONG_UNSIGNED,
        DataType.UNSIGNED,
        DataType.UNSIGNED,
        DataType.UNSIGNED,
        DataType.UNSIGNED,
    )
    return Data(
        DataType.STRUCTURE,
        tuple(Data(k, v) for k, v in zip(kinds, (*_DLMS_UA_OID, arc, last), strict=True)),
    )


class AssociationLN(CosemObject):
    """Association LN (class 15, version 1): 2 object_list, 3 associated_partners_id,
    4 application_context_name, 6 authentication_mechanism_name, 8 association_status,
    9 security_setup_reference. 5 and 7 (secret) are not readable here; the HLS methods
    belong to the association layer."""

    class_id = ClassId.ASSOCIATION_LN
    version = 1
    attribute_names = (
        "logical_name",
        "object_list",
        "associated_partners_id",
        "application_context_name",
        "xdlms_context_info",
        "authentication_mechanism_name",
        "secret",
        "association_status",
        "security_setup_reference",
    )
    method_names = (
        "reply_to_hls_authentication",
        "change_hls_secret",
        "add_object",
        "remove_object",
    )

    def __init__(
        self,
        logical_name: Obis,
        objects: Sequence[CosemObject],
        *,
        client_sap: int,
        server_sap: int,
        application_context: int = 1,
        mechanism: int = 0,
        security_setup: Obis | None = None,
        access: dict[Obis, AccessRights] | None = None,
    ) -> None:
        super().__init__(logical_name)
        self.objects = list(objects)
        self.client_sap = client_sap
        self.server_sap = server_sap
        self.application_context = application_context  # 1 LN, 3 LN with ciphering
        self.mechanism = mechanism  # 0 lowest, 1 LLS, 5 HLS GMAC
        self.security_setup = security_setup
        self.access = dict(access or {})
        self.association_status = 0  # 0 non-associated, 1 pending, 2 associated

    def find(self, logical_name: Obis) -> CosemObject | None:
        return next((o for o in self.objects if o.logical_name == logical_name), None)

    def _element(self, obj: CosemObject) -> Data:
        rights = self.access.get(obj.logical_name) or AccessRights.read_only(obj)
        attributes = tuple(
            Data(
                DataType.STRUCTURE,
                (
                    Data(DataType.INTEGER, i),
                    enum_data(mode),
                    Data(DataType.ARRAY, (Data(DataType.INTEGER, 1), Data(DataType.INTEGER, 2)))
                    if isinstance(obj, ProfileGeneric) and i == 2
                    else Data(DataType.NULL, None),
                ),
            )
            for i, mode in rights.attribute_access
        )
        methods = tuple(
            Data(DataType.STRUCTURE, (Data(DataType.INTEGER, i), enum_data(mode)))
            for i, mode in rights.method_access
        )
        return Data(
            DataType.STRUCTURE,
            (
                Data(DataType.LONG_UNSIGNED, obj.class_id),
                Data(DataType.UNSIGNED, obj.version),
                ln_data(obj.logical_name),
                Data(
                    DataType.STRUCTURE,
                    (Data(DataType.ARRAY, attributes), Data(DataType.ARRAY, methods)),
                ),
            ),
        )

    def _get(self, index: int) -> Data:
        match index:
            case 2:
                return Data(DataType.ARRAY, tuple(self._element(o) for o in self.objects))
            case 3:
                return Data(
                    DataType.STRUCTURE,
                    (
                        Data(DataType.INTEGER, self.client_sap),
                        Data(DataType.LONG_UNSIGNED, self.server_sap),
                    ),
                )
            case 4:
                return _oid_structure(1, self.application_context)
            case 6:
                return _oid_structure(2, self.mechanism)
            case 8:
                return enum_data(self.association_status)
            case 9:
                ref = self.security_setup or Obis(0, 0, 0, 0, 0, 0)
                return ln_data(ref)
            case _:
                raise self._denied(index, "read")


# --- Security setup (class 64) ---------------------------------------------------------


class SecuritySetup(CosemObject):
    """Security setup (class 64, version 0): 2 security_policy, 3 security_suite,
    4 client_system_title, 5 server_system_title; methods 1 security_activate,
    2 global_key_transfer. Keys never live here: this object refuses key transfer; the
    :class:`~smartmeter_proto.aroute.association.server.AssociationServer` that holds the
    keys answers method 2 itself (key_data codec and key wrap in :mod:`..keys`)."""

    class_id = ClassId.SECURITY_SETUP
    attribute_names = (
        "logical_name",
        "security_policy",
        "security_suite",
        "client_system_title",
        "server_system_title",
    )
    method_names = ("security_activate", "global_key_transfer")

    def __init__(
        self,
        logical_name: Obis,
        *,
        server_system_title: bytes,
        client_system_title: bytes = b"",
        security_policy: int = 0,
        security_suite: int = 0,
    ) -> None:
        super().__init__(logical_name)
        self.security_policy = security_policy
        self.security_suite = security_suite
        self.client_system_title = client_system_title
        self.server_system_title = server_system_title

    def _get(self, index: int) -> Data:
        match index:
            case 2:
                return enum_data(self.security_policy)
            case 3:
                return enum_data(self.security_suite)
            case 4:
                return Data(DataType.OCTET_STRING, self.client_system_title)
            case _:
                return Data(DataType.OCTET_STRING, self.server_system_title)

    def _invoke(self, index: int, parameter: Data) -> Data | None:
        if index == 1:
            policy = int_from_data(parameter, DataType.ENUM, "security_policy")
            # Version 0 policies 0..3 only strengthen (Blue Book security_activate).
            if not self.security_policy <= policy <= 3:
                raise CosemAccessError(
                    DataAccessResult.OTHER_REASON,
                    "security_activate may only strengthen the policy",
                )
            self.security_policy = policy
            return None
        return super()._invoke(index, parameter)

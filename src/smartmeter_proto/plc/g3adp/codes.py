"""G3 ADP serial protocol codes: message ids, status values, bands and attribute ids.

The numbers of USI protocol 0x25 as Microchip-MPLAB-Harmony/smartenergy_g3 defines
them (``adp_serial.c``, ``adp_api_types.h``, ``lbp_defs.h``, ``adp.h``), plus the
manufacturer attribute ids of the older ASF firmware (dmoghnie/ne-g3). The messages
that carry them are in :mod:`smartmeter_proto.plc.g3adp`, which re-exports these.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AdpAttribute",
    "AdpCommand",
    "AdpStatus",
    "Band",
    "LbpAttribute",
    "LbpStatus",
    "LegacyAdpAttribute",
    "SerialStatus",
]


class AdpCommand(IntEnum):
    """ADP serial message ids (adp_serial.c ADP_SERIAL_MSG_ID)."""

    STATUS = 0x00
    INITIALIZE = 0x0A
    DATA_REQUEST = 0x0B
    DISCOVERY_REQUEST = 0x0C
    NETWORK_START_REQUEST = 0x0D
    NETWORK_JOIN_REQUEST = 0x0E
    NETWORK_LEAVE_REQUEST = 0x0F
    RESET_REQUEST = 0x10
    SET_REQUEST = 0x11
    GET_REQUEST = 0x12
    LBP_REQUEST = 0x13
    ROUTE_DISCOVERY_REQUEST = 0x14
    PATH_DISCOVERY_REQUEST = 0x15
    MAC_SET_REQUEST = 0x16
    MAC_GET_REQUEST = 0x17
    NO_IP_DATA_REQUEST = 0x18
    DATA_CONFIRM = 0x1E
    DATA_INDICATION = 0x1F
    NETWORK_STATUS_INDICATION = 0x20
    DISCOVERY_CONFIRM = 0x21
    NETWORK_START_CONFIRM = 0x22
    NETWORK_JOIN_CONFIRM = 0x23
    NETWORK_LEAVE_CONFIRM = 0x24
    NETWORK_LEAVE_INDICATION = 0x25
    RESET_CONFIRM = 0x26
    SET_CONFIRM = 0x27
    GET_CONFIRM = 0x28
    LBP_CONFIRM = 0x29
    LBP_INDICATION = 0x2A
    ROUTE_DISCOVERY_CONFIRM = 0x2B
    PATH_DISCOVERY_CONFIRM = 0x2C
    MAC_SET_CONFIRM = 0x2D
    MAC_GET_CONFIRM = 0x2E
    BUFFER_INDICATION = 0x2F
    DISCOVERY_INDICATION = 0x30
    PREQ_INDICATION = 0x31
    UPD_NON_VOLATILE_DATA_INDICATION = 0x32
    ROUTE_NOT_FOUND_INDICATION = 0x33
    LBP_SET_REQUEST = 0x3C
    LBP_DEV_FORCE_REGISTER = 0x3D
    LBP_COORD_KICK_DEVICE = 0x3E
    LBP_COORD_REKEY = 0x3F
    LBP_COORD_SET_REKEY_PHASE = 0x40
    LBP_COORD_ACTIVATE_NEW_KEY = 0x41
    LBP_COORD_SHORT_ADDRESS_ASSIGN = 0x42
    LBP_SET_CONFIRM = 0x46
    LBP_COORD_JOIN_REQUEST_INDICATION = 0x47
    LBP_COORD_JOIN_COMPLETE_INDICATION = 0x48
    LBP_COORD_LEAVE_INDICATION = 0x49


class SerialStatus(IntEnum):
    """Result in a generic STATUS message (adp_serial.c ADP_SERIAL_STATUS)."""

    SUCCESS = 0
    NOT_ALLOWED = 1
    UNKNOWN_COMMAND = 2
    INVALID_PARAMETER = 3


class AdpStatus(IntEnum):
    """ADP primitive status (smartenergy_g3 adp_api_types.h ADP_STATUS)."""

    SUCCESS = 0x00
    INVALID_REQUEST = 0xA1
    FAILED = 0xA2
    INVALID_IPV6_FRAME = 0xA3
    NOT_PERMITED = 0xA4
    ROUTE_ERROR = 0xA5
    TIMEOUT = 0xA6
    INVALID_INDEX = 0xA7
    INVALID_PARAMETER = 0xA8
    NO_BEACON = 0xA9
    READ_ONLY = 0xB0
    UNSUPPORTED_ATTRIBUTE = 0xB1
    INCOMPLETE_PATH = 0xB2
    BUSY = 0xB3
    NO_BUFFERS = 0xB4
    TRICKLE_REDUNDANT = 0xB5
    ERROR_INTERNAL = 0xFF


class LbpStatus(IntEnum):
    """LBP set-parameter result (smartenergy_g3 lbp_defs.h LBP_STATUS)."""

    OK = 0
    NOK = 1
    UNSUPPORTED_PARAMETER = 2
    INVALID_INDEX = 3
    INVALID_LENGTH = 4
    INVALID_VALUE = 5


class Band(IntEnum):
    """PLC band in INITIALIZE (adp.h ADP_BAND; ARIB is the Japanese band)."""

    CENELEC_A = 0
    CENELEC_B = 1
    FCC = 2
    ARIB = 3
    RF_ONLY = 255


class AdpAttribute(IntEnum):
    """ADP IB ids a HEMS device uses (smartenergy_g3 adp_api_types.h ADP_PIB_ATTRIBUTE)."""

    SECURITY_LEVEL = 0x00000000
    PREFIX_TABLE = 0x00000001
    CONTEXT_INFORMATION_TABLE = 0x00000007
    COORD_SHORT_ADDRESS = 0x00000008
    MAX_HOPS = 0x0000000F
    DEVICE_TYPE = 0x00000010
    ROUTING_TABLE_ENTRY_TTL = 0x00000012
    SOFT_VERSION = 0x0000001C
    MAX_JOIN_WAIT_TIME = 0x00000020
    PATH_DISCOVERY_TIME = 0x00000021
    ACTIVE_KEY_INDEX = 0x00000022
    DESTINATION_ADDRESS_SET = 0x00000023
    DEFAULT_COORD_ROUTE_ENABLED = 0x00000024
    DISABLE_DEFAULT_ROUTING = 0x000000F0
    MANUF_REASSEMBY_TIMER = 0x080000C0
    MANUF_IPV6_HEADER_COMPRESSION = 0x080000C1
    MANUF_EXTENDED_ADDRESS = 0x080000C2
    MANUF_PAN_ID = 0x080000C3
    MANUF_BROADCAST_SEQUENCE_NUMBER = 0x080000C4
    MANUF_SHORT_ADDRESS = 0x080000D4


class LegacyAdpAttribute(IntEnum):
    """Manufacturer ids of the older ASF G3 firmware (ne-g3 ``adp.rs`` EAdpPibAttribute).

    Same numbers as Harmony's EXTENDED_ADDRESS / PAN_ID: which one applies depends on
    the modem firmware. One older Atmel header spells them 0x800000C2/0x800000C3.
    """

    EAP_PRESHARED_KEY = 0x080000C2  # 16 bytes
    EAP_NETWORK_ACCESS_IDENTIFIER = 0x080000C3  # ID_P: 36 bytes for ARIB, 8 otherwise
    REGISTER_DEVICE = 0x080000C5


class LbpAttribute(IntEnum):
    """LBP IB ids for LBP_SET_REQUEST (smartenergy_g3 lbp_defs.h LBP_ATTRIBUTE)."""

    IDS = 0x00000000  # ID_S: 34 bytes for ARIB, 8 otherwise
    IDP = 0x00000001  # ID_P: 36 bytes for ARIB, 8 otherwise
    PSK = 0x00000002  # 16 bytes
    GMK = 0x00000003  # 16 bytes
    REKEY_GMK = 0x00000004  # 16 bytes
    RANDP = 0x00000005  # 16 bytes
    MSG_TIMEOUT = 0x00000006  # 16 bits, seconds


#: Attribute ids whose value is key material: masked in repr.
SECRET_ADP_IDS = frozenset({int(LegacyAdpAttribute.EAP_PRESHARED_KEY)})
SECRET_LBP_IDS = frozenset(
    int(a) for a in (LbpAttribute.PSK, LbpAttribute.GMK, LbpAttribute.REKEY_GMK, LbpAttribute.RANDP)
)

"""A-XDR, the encoding of COSEM ``Data`` (IEC 62056-6-2, Blue Book 4.1.5/4.1.6).

:mod:`.codec` reads and writes the tagged ``Data`` CHOICE, compact arrays included;
:mod:`.values` reads the same bytes straight to plain Python values; :mod:`.dates`
holds the COSEM date, time and date-time values.
"""

from .codec import (
    DEFAULT_MAX_DEPTH,
    MAX_DEPTH_CEILING,
    BitString,
    CompactArray,
    Data,
    DataType,
    TypeDescription,
    check_max_depth,
    decode_data,
    encode_data,
    pull_data,
    pull_length,
    push_data,
    push_length,
)
from .dates import (
    DAY_LAST,
    DAY_SECOND_LAST,
    DEVIATION_NOT_SPECIFIED,
    MONTH_DST_BEGIN,
    MONTH_DST_END,
    NOT_SPECIFIED,
    YEAR_NOT_SPECIFIED,
    ClockStatus,
    CosemDate,
    CosemDateTime,
    CosemTime,
    posix_seconds,
)
from .values import decode_values, to_python

__all__ = [
    "DAY_LAST",
    "DAY_SECOND_LAST",
    "DEFAULT_MAX_DEPTH",
    "DEVIATION_NOT_SPECIFIED",
    "MAX_DEPTH_CEILING",
    "MONTH_DST_BEGIN",
    "MONTH_DST_END",
    "NOT_SPECIFIED",
    "YEAR_NOT_SPECIFIED",
    "BitString",
    "ClockStatus",
    "CompactArray",
    "CosemDate",
    "CosemDateTime",
    "CosemTime",
    "Data",
    "DataType",
    "TypeDescription",
    "check_max_depth",
    "decode_data",
    "decode_values",
    "encode_data",
    "posix_seconds",
    "pull_data",
    "pull_length",
    "push_data",
    "push_length",
    "to_python",
]

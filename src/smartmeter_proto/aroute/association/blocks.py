"""GET block transfer of a COSEM association (IEC 62056-5-3, Green Book 9.4, datablock).

Server side: a long GET answer cut into Get-Response-With-Datablock blocks. Client side:
the event for the reassembled blocks, a Data or the SEQUENCE OF Get-Data-Result.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._buffer import Cursor, Writer
from ..apdu import DataAccessResult, GetResponseWithDatablock, InvokeIdAndPriority
from ..apdu import GetResult as GetDataResult
from ..apdu.common import pull_count, pull_get_result, push_count, push_get_result
from ..axdr import decode_data
from .events import ClientEvent, GetListResult, GetResult

__all__ = [
    "BLOCK_HEADER",
    "CIPHER_OVERHEAD",
    "LongGet",
    "assembled_event",
    "failed_event",
    "result_list_bytes",
]

#: Get-Response-With-Datablock overhead: tag, choice, invoke, last, block number (4),
#: result choice, octet-string length (up to 3).
BLOCK_HEADER = 12
#: Worst-case ciphering overhead: tag, length (3), title length + title (9), SC, IC (4), tag (12).
CIPHER_OVERHEAD = 1 + 3 + 9 + 1 + 4 + 12


@dataclass(slots=True)
class LongGet:
    """A long GET answer being sent in blocks of ``block_size`` bytes of ``data``."""

    invoke: InvokeIdAndPriority
    data: bytes
    block_size: int
    sent: int = 0  # number of the last block sent

    def next_block(self) -> tuple[bytes, bool]:
        """The Get-Response-With-Datablock of the next block, and whether it is the last."""
        start = self.sent * self.block_size
        chunk = self.data[start : start + self.block_size]
        self.sent += 1
        last = start + self.block_size >= len(self.data)
        return GetResponseWithDatablock(last, self.sent, chunk, self.invoke).encode(), last


def result_list_bytes(results: tuple[GetDataResult, ...]) -> bytes:
    """Green Book: the blocks of a long with-list answer carry the SEQUENCE OF Get-Data-Result."""
    w = Writer()
    push_count(w, len(results))
    for r in results:
        push_get_result(w, r)
    return w.getvalue()


def failed_event(kind: str, invoke_id: int, result: DataAccessResult | int) -> ClientEvent:
    """The event of a long GET (``kind`` "get" or "get_list") that ended in ``result``."""
    if kind == "get_list":
        return GetListResult(invoke_id, (result,))
    return GetResult(invoke_id, result)


def assembled_event(kind: str, invoke_id: int, raw: bytes) -> ClientEvent:
    """The event for a reassembled long GET: Data, or the SEQUENCE OF Get-Data-Result."""
    if kind == "get":
        return GetResult(invoke_id, decode_data(raw))
    cur = Cursor(raw, "xdlms")
    n = pull_count(cur, "result list", 2)
    results: tuple[GetDataResult, ...] = tuple(pull_get_result(cur) for _ in range(n))
    cur.expect_end("Get-Data-Result list")
    return GetListResult(invoke_id, results)

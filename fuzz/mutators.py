"""Structure-aware mutators: ECHONET Lite frames, J11 frames, SKSTACK lines, plain bytes.

Each mutator takes bytes and a ``random.Random`` and returns new bytes; all are
deterministic for a given generator state. The structure-aware ones parse
loosely (a lying OPC or PDC is kept, not rejected) so they can lie further:
ECHONET Lite EHD/TID/ESV/OPC, PDC lies, property-count lies, inserted,
deleted and duplicated properties, EDTs swapped between EPCs; J11 length and
checksum lies, and data changes with the checksums fixed up so the message
layer behind the frame check is reached.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["mutate", "mutate_bytes", "mutate_echonet", "mutate_j11", "mutate_skstack"]

Mutator = Callable[[bytes, random.Random], bytes]

# --------------------------------------------------------------------------- bytes
_INTERESTING: Final = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x0D, 0x0A, 0x20, 0x30, 0x41)


def _rand_bytes(rng: random.Random, size: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(size))


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One byte-level change: flip, set, insert, delete, duplicate or truncate."""
    buf = bytearray(data)
    op = rng.randrange(8)
    if not buf or op == 0:
        at = rng.randint(0, len(buf))
        buf[at:at] = _rand_bytes(rng, rng.choice((1, 1, 2, 4, rng.randint(1, 32))))
    elif op == 1:
        at = rng.randrange(len(buf))
        buf[at] ^= 1 << rng.randrange(8)
    elif op == 2:
        buf[rng.randrange(len(buf))] = rng.choice(_INTERESTING)
    elif op == 3:
        buf[rng.randrange(len(buf))] = rng.getrandbits(8)
    elif op == 4:
        at = rng.randrange(len(buf))
        del buf[at : at + rng.randint(1, 8)]
    elif op == 5:
        at = rng.randrange(len(buf))
        chunk = buf[at : at + rng.randint(1, 32)]
        to = rng.randint(0, len(buf))
        buf[to:to] = chunk
    elif op == 6:
        del buf[rng.randint(0, len(buf)) :]
    else:
        at = rng.randrange(len(buf))
        width = rng.choice((2, 4))
        value = rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF))
        buf[at : at + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "big")
    return bytes(buf)


# --------------------------------------------------------------------------- ECHONET Lite
#: Every ESV code of ECHONET Lite Part II Table 3-9..3-11, plus unassigned neighbours.
_ESV_CODES: Final = (
    0x60, 0x61, 0x62, 0x63, 0x6E, 0x71, 0x72, 0x73, 0x74, 0x7A, 0x7E,
    0x50, 0x51, 0x52, 0x53, 0x5E, 0x64, 0x6F, 0x70, 0x75, 0x00, 0xFF,
)  # fmt: skip
_SETGET: Final = frozenset({0x6E, 0x7E, 0x5E})
#: Objects the stack has class files or handlers for: meter, node profile, controller,
#: air conditioner, solar, storage battery, water heater, lighting.
_EOJS: Final = (
    b"\x02\x88\x01", b"\x0e\xf0\x01", b"\x05\xff\x01", b"\x01\x30\x01", b"\x02\x79\x01",
    b"\x02\x7d\x01", b"\x02\x6b\x01", b"\x02\x90\x01", b"\x0e\xf0\x00", b"\x02\x88\x00",
)  # fmt: skip
#: EPCs with decoders in specs/echonet (meter, node profile, superclass maps).
_EPCS: Final = (
    0x80, 0x81, 0x82, 0x83, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xD3, 0xD5,
    0xD6, 0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA, 0xEB, 0xEC, 0xED,
)  # fmt: skip
_EDT_SPECIALS: Final = (
    b"", b"\x30", b"\x31", b"\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00",
    b"\xff\xff\xff\xfe", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x07\xea\x05\x14",
    b"\x10" + bytes(16), b"\x01\x02\x88\x01", b"\xff" * 17,
)  # fmt: skip
_HEADER: Final = 10  # EHD1 EHD2 TID SEOJ DEOJ, then ESV


@dataclass(slots=True)
class _Prop:
    epc: int
    pdc: int  # as declared, may lie
    edt: bytes


@dataclass(slots=True)
class _PropList:
    opc: int  # as declared, may lie
    props: list[_Prop] = field(default_factory=list)


@dataclass(slots=True)
class _Echonet:
    head: bytearray
    esv: int
    lists: list[_PropList]
    tail: bytes


def _parse_list(data: bytes, at: int) -> tuple[_PropList | None, int]:
    if at >= len(data):
        return None, at
    plist = _PropList(data[at])
    at += 1
    for _ in range(plist.opc):
        if at + 2 > len(data):
            break
        pdc = data[at + 1]
        plist.props.append(_Prop(data[at], pdc, data[at + 2 : at + 2 + pdc]))
        at = min(len(data), at + 2 + pdc)
    return plist, at


def parse_echonet(data: bytes) -> _Echonet | None:
    """Loose parse of a format-1 frame (counts kept as declared); None if under 11 bytes."""
    if len(data) < _HEADER + 1:
        return None
    frame = _Echonet(bytearray(data[:_HEADER]), data[_HEADER], [], b"")
    at = _HEADER + 1
    for _ in range(2 if frame.esv in _SETGET else 1):
        plist, at = _parse_list(data, at)
        if plist is None:
            break
        frame.lists.append(plist)
    frame.tail = data[at:]
    return frame


def build_echonet(frame: _Echonet) -> bytes:
    out = bytearray(frame.head)
    out.append(frame.esv & 0xFF)
    for plist in frame.lists:
        out.append(plist.opc & 0xFF)
        for prop in plist.props:
            out += bytes((prop.epc & 0xFF, prop.pdc & 0xFF)) + prop.edt
    return bytes(out + frame.tail)


def _new_prop(rng: random.Random, others: list[_Prop]) -> _Prop:
    if others and rng.random() < 0.3:
        edt = rng.choice(others).edt
    elif rng.random() < 0.5:
        edt = rng.choice(_EDT_SPECIALS)
    else:
        edt = _rand_bytes(rng, rng.choice((0, 1, 2, 4, 8, rng.randint(0, 40))))
    epc = rng.choice(_EPCS) if rng.random() < 0.8 else rng.getrandbits(8)
    return _Prop(epc, len(edt), edt)


def _echonet_op(frame: _Echonet, rng: random.Random) -> None:
    if not frame.lists:
        frame.lists.append(_PropList(0))
    plist = rng.choice(frame.lists)
    props = plist.props
    op = rng.randrange(14)
    if op == 0:  # EHD lies
        frame.head[0] = rng.choice((0x10, 0x10, 0x10, 0x00, 0x20, rng.getrandbits(8)))
        frame.head[1] = rng.choice((0x81, 0x81, 0x82, 0x80, 0x83, rng.getrandbits(8)))
    elif op == 1:  # TID
        tid = rng.choice((0, 1, 0xFFFF, 0x5253, rng.getrandbits(16)))
        frame.head[2:4] = tid.to_bytes(2, "big")
    elif op == 2:  # SEOJ / DEOJ
        at = rng.choice((4, 7))
        frame.head[at : at + 3] = rng.choice(_EOJS) if rng.random() < 0.85 else _rand_bytes(rng, 3)
    elif op == 3:  # ESV; a SetGet needs its second list
        frame.esv = rng.choice(_ESV_CODES) if rng.random() < 0.9 else rng.getrandbits(8)
        if frame.esv in _SETGET and len(frame.lists) < 2:
            frame.lists.append(_PropList(0))
        elif frame.esv not in _SETGET and len(frame.lists) > 1 and rng.random() < 0.5:
            del frame.lists[1:]
    elif op == 4:  # OPC lies
        plist.opc = max(0, len(props) + rng.choice((-2, -1, 1, 2, 0xFF))) % 256
    elif op == 5 and props:  # PDC lies
        prop = rng.choice(props)
        prop.pdc = max(0, prop.pdc + rng.choice((-2, -1, 1, 2, 100, 255))) % 256
    elif op in (6, 7):  # insert a property, counts kept consistent
        props.insert(rng.randint(0, len(props)), _new_prop(rng, props))
        plist.opc = (plist.opc + 1) % 256
    elif op == 8 and props:  # delete a property
        del props[rng.randrange(len(props))]
        plist.opc = (plist.opc - 1) % 256
    elif op == 9 and len(props) >= 2:  # swap EDTs between two EPCs
        a, b = rng.sample(range(len(props)), 2)
        props[a].edt, props[b].edt = props[b].edt, props[a].edt
        props[a].pdc, props[b].pdc = len(props[a].edt), len(props[b].edt)
    elif op == 10 and props:  # duplicate a property (same EPC twice)
        prop = rng.choice(props)
        props.append(_Prop(prop.epc, prop.pdc, prop.edt))
        plist.opc = (plist.opc + 1) % 256
    elif op == 11 and props:  # change one EDT, PDC follows
        prop = rng.choice(props)
        prop.edt = rng.choice(_EDT_SPECIALS) if rng.random() < 0.4 else mutate_bytes(prop.edt, rng)
        prop.pdc = len(prop.edt)
    elif op == 12:  # trailing bytes, or cut the tail
        frame.tail = _rand_bytes(rng, rng.randint(1, 4)) if not frame.tail else b""
    elif props:  # change an EPC
        rng.choice(props).epc = rng.choice(_EPCS) if rng.random() < 0.7 else rng.getrandbits(8)


def mutate_echonet(data: bytes, rng: random.Random) -> bytes:
    """One to three ECHONET Lite structure changes; byte-level if the frame is too short."""
    frame = parse_echonet(data)
    if frame is None:
        return mutate_bytes(data, rng)
    for _ in range(rng.randint(1, 3)):
        _echonet_op(frame, rng)
    return build_echonet(frame)


# --------------------------------------------------------------------------- J11
#: Unique codes (ROHM BP35C0-J11 command reference): request 0xD0EA83FC, response/notice
#: 0xD0F9EE5D.
_J11_UNIQUE: Final = (b"\xd0\xea\x83\xfc", b"\xd0\xf9\xee\x5d")
_J11_HEADER: Final = 12
#: Command codes the stack knows (requests, responses 0x2xxx, notifications 0x6xxx, errors).
_J11_COMMANDS: Final = (
    0x0001, 0x0005, 0x0007, 0x0008, 0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x000E,
    0x0010, 0x0011, 0x0051, 0x0053, 0x0054, 0x0056, 0x0057, 0x005F, 0x0101, 0x0107,
    0x0108, 0x0109, 0x010A, 0x010B, 0x010C, 0x0115, 0x2001, 0x2005, 0x2007, 0x2008,
    0x2009, 0x200A, 0x2051, 0x2053, 0x2054, 0x2056, 0x2057, 0x2058, 0x205F, 0x2101,
    0x2107, 0x2108, 0x2109, 0x210A, 0x210B, 0x210C, 0x2115, 0x6018, 0x6019, 0x601A,
    0x6028, 0x6038, 0x6051, 0x6052, 0x6053, 0x6054, 0x6055, 0x6056, 0x6057, 0x6058,
    0x6059, 0x605A, 0x605B, 0x6011, 0x2FFF, 0x3FFF, 0x0000, 0xFFFF,
)  # fmt: skip


def _sum16(data: bytes) -> int:
    return sum(data) & 0xFFFF


def _j11_frame(unique: bytes, command: int, length: int, data: bytes, fix: bool) -> bytes:
    prefix = unique + command.to_bytes(2, "big") + (length & 0xFFFF).to_bytes(2, "big")
    hsum = _sum16(prefix) if fix else 0
    return prefix + hsum.to_bytes(2, "big") + (_sum16(data) if fix else 0).to_bytes(2, "big") + data


def split_j11(data: bytes) -> list[bytes]:
    """Frames by their declared length from each unique code; junk kept as its own pieces."""
    pieces: list[bytes] = []
    at = 0
    while at < len(data):
        starts = [i for i in (data.find(u, at) for u in _J11_UNIQUE) if i >= 0]
        start = min(starts, default=len(data))
        if start > at:
            pieces.append(data[at:start])
        if start >= len(data) or start + _J11_HEADER > len(data):
            if start < len(data):
                pieces.append(data[start:])
            break
        length = int.from_bytes(data[start + 6 : start + 8], "big")
        end = min(len(data), start + 8 + max(length, 4))
        pieces.append(data[start:end])
        at = end
    return pieces


def _j11_op(frame: bytes, rng: random.Random) -> bytes:
    if len(frame) < _J11_HEADER or frame[:4] not in _J11_UNIQUE:
        return mutate_bytes(frame, rng)
    unique, command = frame[:4], int.from_bytes(frame[4:6], "big")
    data = frame[_J11_HEADER:]
    length = len(data) + 4
    op = rng.randrange(8)
    if op == 0:  # length lie, header checksum made to match it
        lie = length + rng.choice((-5, -4, -1, 1, 2, 100, 0x1000, -length, 0xFFFF - length))
        return _j11_frame(unique, command, lie, data, True)
    if op == 1:  # header checksum lie
        out = bytearray(_j11_frame(unique, command, length, data, True))
        out[8 + rng.randrange(2)] ^= 1 << rng.randrange(8)
        return bytes(out)
    if op == 2:  # data checksum lie
        out = bytearray(_j11_frame(unique, command, length, data, True))
        out[10 + rng.randrange(2)] ^= 1 << rng.randrange(8)
        return bytes(out)
    if op == 3:  # another command code, same data, checksums right
        command = rng.choice(_J11_COMMANDS) if rng.random() < 0.9 else rng.getrandbits(16)
    elif op == 4:
        unique = _J11_UNIQUE[1] if unique == _J11_UNIQUE[0] else _J11_UNIQUE[0]
    elif op == 5:  # grow or shrink the data block
        data = data + _rand_bytes(rng, rng.randint(1, 8)) if rng.random() < 0.5 else data[:-1]
    else:  # change the data, checksums right: reaches the message layer
        data = mutate_bytes(data, rng)
    return _j11_frame(unique, command, len(data) + 4, data, True)


def mutate_j11(data: bytes, rng: random.Random) -> bytes:
    """Change one frame of a J11 byte stream (lengths and checksums lie or are fixed up)."""
    pieces = split_j11(data) or [data]
    op = rng.randrange(10)
    if op == 0 and len(pieces) > 1:
        del pieces[rng.randrange(len(pieces))]
    elif op == 1:  # a frame twice, or junk between frames
        at = rng.randrange(len(pieces))
        pieces.insert(at, pieces[at] if rng.random() < 0.5 else _rand_bytes(rng, rng.randint(1, 9)))
    elif op == 2:  # a frame cut short (the parser waits, then the next frame resyncs it)
        at = rng.randrange(len(pieces))
        pieces[at] = pieces[at][: rng.randint(0, len(pieces[at]))]
    else:
        at = rng.randrange(len(pieces))
        pieces[at] = _j11_op(pieces[at], rng)
    return b"".join(pieces)


# --------------------------------------------------------------------------- SKSTACK
_SK_WORDS: Final = (
    b"OK", b"OK 00", b"OK 01", b"FAIL ER04", b"FAIL ER10", b"EVER 1.2.10", b"EAPPVER rev26e",
    b"EVENT 21", b"EVENT 22", b"EVENT 24", b"EVENT 25", b"EVENT 29", b"EVENT 20", b"EVENT 1F",
    b"EPANDESC", b"  Channel:21", b"  Pan ID:8888", b"  LQI:E1", b"  PairID:AABBCCDD",
    b"  Addr:12345678ABCDEF01", b"  Side:0", b"ERXUDP", b"EINFO", b"EEDSCAN", b"SKSENDTO 1",
    b"FE80:0000:0000:0000:021D:1290:1234:5678", b"0E1A", b"02CC", b"0000", b"FFFF", b"0012",
)  # fmt: skip


def mutate_skstack(data: bytes, rng: random.Random) -> bytes:
    """Token-level change of one SKSTACK line: words, hex fields, DATALEN, line ends."""
    lines = data.split(b"\r\n")
    at = rng.randrange(len(lines))
    words = lines[at].split(b" ")
    op = rng.randrange(9)
    w = rng.randrange(len(words))
    if op == 0:
        words[w] = rng.choice(_SK_WORDS)
    elif op == 1:
        del words[w]
    elif op == 2:
        words.insert(w, words[w])
    elif op == 3:  # a hex field of another width, or not hex at all
        words[w] = rng.choice((b"", b"0", b"FFFF", b"0000", b"ZZ", b"1" * 40, b"%04X" % len(data)))
    elif op == 4:  # a DATALEN-like field that lies about the data after it
        words[w] = b"%04X" % max(0, len(words[-1]) + rng.choice((-1, 1, 2, 0x100)))
    elif op == 5:
        lines.insert(at, rng.choice(_SK_WORDS))
    elif op == 6:
        words[w] = words[w] + rng.choice((b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\xff"))
    elif op == 7 and len(lines) > 1:
        del lines[at]
        return b"\r\n".join(lines)
    else:
        return mutate_bytes(data, rng)
    lines[at] = b" ".join(words)
    return b"\r\n".join(lines)


# --------------------------------------------------------------------------- entry point
_STRUCTURED: Final[dict[str, Mutator]] = {
    "echonet": mutate_echonet,
    "j11": mutate_j11,
    "skstack": mutate_skstack,
}


def mutate(family: str, pool: list[bytes], rng: random.Random, *, prefix: int = 0) -> bytes:
    """A mutant of one input from ``pool``: structure-aware (``family``) and byte-level.

    The first ``prefix`` bytes are target options (dialect, mode): kept, and only
    sometimes changed.
    """
    base = rng.choice(pool)
    head, body = base[:prefix], base[prefix:]
    structured = _STRUCTURED.get(family)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        roll = rng.random()
        if structured is not None and roll < 0.6:
            body = structured(body, rng)
        elif roll < 0.93:
            body = mutate_bytes(body, rng)
        else:  # splice: this input's start, another's end
            other = rng.choice(pool)[prefix:]
            body = body[: rng.randint(0, len(body))] + other[rng.randint(0, len(other)) :]
    if prefix and (len(head) < prefix or rng.random() < 0.1):
        head = _rand_bytes(rng, prefix)
    return head + body

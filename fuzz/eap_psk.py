"""Fuzz ``auth.eap_psk``: peer and server ``receive`` give a value or a DecodeError.

Input: one EAP packet, given to four machines with a fixed ``random_bytes``: a fresh peer
(waiting for message 1), a peer that answered message 1 (waiting for message 3), a
server after ``start()`` (waiting for message 2) and a server that answered message 2
(waiting for message 4). So recorded messages 1-4 are accepted where they belong.
``receive`` catches ``AuthError`` itself (a failed MAC or PCHANNEL fails the exchange);
malformed packets raise ``DecodeError``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from _harness import Target, main

if TYPE_CHECKING:  # imported lazily: atheris instruments the library before it loads
    from smartmeter_proto.auth.eap_psk import EapPskPeer, EapPskServer

PSK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
ID_P = b"0123456789AB"
ID_S = b"SM" + b"0" * 24 + b"0194BFAD"
IDENTIFIER = 0xE3  # the meter's first EAP-PSK identifier in [WSUHA] (tests/wisun/test_pana.py)


def fixed_random(n: int) -> bytes:
    """Deterministic "random" bytes: the same for every call of the same size."""
    return bytes((29 * i + 7) & 0xFF for i in range(n))


def machines() -> tuple[EapPskPeer, EapPskPeer, EapPskServer, EapPskServer, list[bytes]]:
    """(fresh peer, peer after message 1, server after start, server after message 2,
    the packets of a successful exchange: messages 1-4 and EAP-Success)."""
    from smartmeter_proto.auth.eap_psk import EapPskPeer, EapPskServer

    def peer() -> EapPskPeer:
        return EapPskPeer(ID_P, PSK, random_bytes=fixed_random)

    def server() -> EapPskServer:
        return EapPskServer(ID_S, {ID_P: PSK}.get, random_bytes=fixed_random, identifier=IDENTIFIER)

    fresh_server, late_server, late_peer = server(), server(), peer()
    msg1 = fresh_server.start()
    late_server.start()
    msg2 = late_peer.receive(msg1)
    assert msg2 is not None
    msg3 = late_server.receive(msg2)
    assert msg3 is not None
    return peer(), late_peer, fresh_server, late_server, [msg1, msg2, msg3]


def build() -> Target:
    from smartmeter_proto.errors import DecodeError

    def call(data: bytes) -> object:
        fresh_peer, late_peer, fresh_server, late_server, _ = machines()
        results: list[object] = []
        for machine in (fresh_peer, late_peer, fresh_server, late_server):
            try:
                results.append(machine.receive(data))
            except DecodeError as exc:
                results.append(exc)
            results.append((machine.outcome, machine.failure))
        return results

    return Target("eap_psk", call, (DecodeError,), "bytes")


def seeds() -> dict[str, bytes]:
    """A successful exchange under the fixed keys, the real [WSUHA] messages, edge cases."""
    from pana_message import real_messages

    from smartmeter_proto.auth.eap import EapCode, EapPacket
    from smartmeter_proto.wisun.radio.pana.message import AvpCode, decode

    _, late_peer, _, late_server, (msg1, msg2, msg3) = machines()
    msg4 = late_peer.receive(msg3)
    assert msg4 is not None
    success = late_server.receive(msg4)
    assert success is not None
    out = {
        "psk-1": msg1,
        "psk-2": msg2,
        "psk-3": msg3,
        "psk-4": msg4,
        "success": success,
        "failure": EapPacket(EapCode.FAILURE, msg4[1], None).encode(),
        "identity-request": EapPacket(EapCode.REQUEST, 1, 1, b"").encode(),
        "identity-response": EapPacket(EapCode.RESPONSE, IDENTIFIER, 1, ID_P).encode(),
        "notification": EapPacket(EapCode.REQUEST, 2, 2, b"hello").encode(),
        "nak": EapPacket(EapCode.RESPONSE, IDENTIFIER, 3, bytes([47])).encode(),
        "md5-challenge": EapPacket(EapCode.REQUEST, 3, 4, b"\x10" + bytes(16)).encode(),
        "edge-empty": b"",
        "edge-header-only": msg1[:4],
        "edge-length-lie": msg1[:2] + (len(msg1) + 4).to_bytes(2, "big") + msg1[4:],
        "edge-psk-1-cut": msg1[:-5],
        "edge-psk-3-cut": msg3[:-3],
        "edge-psk-2-bad-mac": msg2[:50] + bytes([msg2[50] ^ 1]) + msg2[51:],
        "edge-trailing": msg2 + b"\x00\x00",
    }
    for name, message in real_messages().items():  # EAP-PSK 1 and 3 from real meters
        payload = decode(message).bytes_of(AvpCode.EAP_PAYLOAD)
        if payload:
            out[f"real-{name}"] = payload
    return out


if __name__ == "__main__":
    sys.exit(main("eap_psk"))

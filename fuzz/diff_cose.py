"""Differential: COSE_Encrypt0 / COSE_Mac0 into ``iot.cose`` and pycose 1.1.0; same verdict.

Byte 0 selects the mode (bit 0); the rest is the payload:

* 0, structure: the bytes are one COSE message. ``cose.decode_encrypt0`` (tag 16) or
  ``decode_mac0`` (tag 17) against pycose ``CoseMessage`` (cbor2 + ``from_cose_obj``):
  accept/reject, then alg, kid, Partial IV and ciphertext/payload/tag. Then both open it with
  the fixed keys (``open_encrypt0``/``open_mac0`` against pycose ``decrypt``/``verify_tag``):
  both refuse, or both open to the same payload.
* 1, sealed: the bytes are a plaintext. Ours seals it (Encrypt0, alg 10; Mac0, alg 4) and
  pycose opens it; pycose seals it and ours opens it; the payloads agree. One byte of each
  message flipped (position from the payload) is refused by both.

A disagreement is counted under a named peer quirk (``PEER_QUIRKS``) or one of our
documented limits (``OUR_LIMITS``, the reasons ``iot.cose`` gives, each citing RFC 9052 or
RFC 8613); anything else is a crash. ``OUTCOMES`` counts every verdict.

Needs the ``interop`` extra (pycose). Run ``python fuzz/diff_cose.py`` or ``--fallback``.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Final

from _harness import Target, main

KID: Final = b"meter-1"
KEY_CCM: Final = bytes(range(16))
KEY_HMAC: Final = bytes(range(32))
#: First byte non-zero: pycose 1.1.0 builds the nonce as int(piv) ^ int(base_iv) in the
#: fewest bytes (interop/iot_pycose.py), so a leading 0x00 gives a 12-byte nonce.
COMMON_IV: Final = bytes(range(1, 14))
SEQ: Final = 7

#: Peer behaviour met by fuzzing (pycose 1.1.0, cbor2 as pinned by the interop extra).
PEER_QUIRKS: Final = {
    "pc-lenient-cbor": "pycose decodes with cbor2, which accepts what RFC 8949 §4.2 "
    "deterministic encoding forbids and ours refuses (non-shortest heads, indefinite lengths) "
    "and extra items after the array's fields are read by cbor2 as part of the item",
    "pc-header-types": "pycose does not check header value types: a kid or Partial IV that is "
    "no bstr, or an alg that is no int, is kept as given (RFC 9052 §3.1 requires bstr/int)",
    "pc-both-buckets": "pycose accepts a label in both the protected and the unprotected "
    "bucket (RFC 9052 §3: MUST NOT), and a crit header it does not process",
    "pc-label-types": "pycose keeps a header label that is neither int nor tstr (a tagged "
    "item, a bstr) where RFC 9052 §1.5 allows only int and tstr labels",
    "pc-alg-unprotected": "pycose takes alg from the unprotected bucket "
    "(RFC 9052 §3.1: alg belongs in the protected bucket)",
    "pc-iv-and-piv": "pycose accepts IV and Partial IV together (RFC 9052 §3.1: MUST NOT)",
    "pc-decode-error": "pycose raises on a structure ours reads (an unprotected map whose "
    "attribute it cannot parse, an unknown algorithm id it looks up at decode time)",
}
#: Where ours refuses on purpose what pycose reads (our documented profile, iot/cose.py).
OUR_LIMITS: Final = {
    "expected CBOR tag": "ours-tag-required",
    "algorithm": "ours-profile-alg",
    "no integer alg": "ours-profile-alg",
    "CCM tag": "ours-tag-length",
    "MAC tag of": "ours-tag-length",
    "depth": "ours-max-depth",
    "kid": "ours-profile-kid",
    "Partial IV": "ours-profile-piv",
    "full IV header": "ours-profile-piv",
    # RFC 9052 §3.1: IV is the content encryption IV; a COSE_Mac0 (§6.2) has none to use
    "IV header has no meaning": "ours-mac0-iv",
}

OUTCOMES: Counter[str] = Counter()


def build() -> Target:
    import cbor2
    from pycose import algorithms, headers, keys, messages

    from smartmeter_proto.errors import AuthError, DecodeError
    from smartmeter_proto.iot import cose

    ccm_key = keys.SymmetricKey(k=KEY_CCM)
    ccm_key.base_iv = COMMON_IV
    hmac_key = keys.SymmetricKey(k=KEY_HMAC)
    piv = cose.partial_iv_from_seq(SEQ)

    def no_aad(kid: bytes, seq: int) -> bytes:
        return b""

    def theirs_decode(data: bytes) -> Any:
        """pycose's decode; cbor2 >= 6 gives a tuple where pycose wants a list (interop)."""
        item = cbor2.loads(data)
        fields = list(item.value)
        fields[1] = dict(fields[1])
        return messages.CoseMessage._COSE_MSG_ID[item.tag].from_cose_obj(fields, True)

    def ours_open(data: bytes, mac: bool) -> bytes:
        if mac:
            return cose.open_mac0(data, keys_by_kid={KID: KEY_HMAC}, external_aad_for=no_aad)[2]
        return cose.open_encrypt0(
            data, keys_by_kid={KID: KEY_CCM}, common_iv=COMMON_IV, external_aad_for=no_aad
        )[2]

    def theirs_open(data: bytes, mac: bool) -> bytes:
        msg = theirs_decode(data)
        kid = {getattr(k, "identifier", k): v for k, v in {**msg.phdr, **msg.uhdr}.items()}
        if kid.get(4) != KID:  # pycose takes the key it is given: the kid lookup is ours to do
            raise ValueError("pycose: unknown kid")
        msg.external_aad = b""
        if mac:
            msg.key = hmac_key
            if msg.verify_tag() is not True:
                raise ValueError("pycose: tag does not verify")
            return bytes(msg.payload)
        msg.key = ccm_key
        return bytes(msg.decrypt())

    def count(verdict: str) -> str:
        OUTCOMES[verdict] += 1
        return verdict

    def pc_quirk(data: bytes, theirs: Any, reason: str) -> str | None:
        """Name the peer quirk behind pycose reading what ours refuses, if one does."""
        try:
            strict = cbor2.dumps(cbor2.loads(data), canonical=True)
        except Exception:
            strict = b""
        if "deterministic" in reason or "shortest" in reason or "indefinite" in reason:
            return "pc-lenient-cbor"
        if "trailing" in reason or "bytes after" in reason or strict != data:
            return "pc-lenient-cbor"
        if "both buckets" in reason or "crit" in reason:
            return "pc-both-buckets"
        if "label" in reason:
            return "pc-label-types"
        if "alg must be in the protected" in reason:
            return "pc-alg-unprotected"
        if "IV and Partial IV" in reason:
            return "pc-iv-and-piv"
        if "bstr" in reason or "byte string" in reason or "must be" in reason:
            return "pc-header-types"
        return None

    def structure(data: bytes) -> list[str]:
        verdicts: list[str] = []
        mac = data[:1] == b"\xd1"  # tag 17: COSE_Mac0 (RFC 9052 §6.2); else Encrypt0
        decode = cose.decode_mac0 if mac else cose.decode_encrypt0
        try:
            ours: Any = decode(data)
            reason = ""
        except DecodeError as exc:
            ours, reason = None, exc.reason
        try:
            theirs, failed = theirs_decode(data), None
        except Exception as exc:  # any pycose/cbor2 exception is its refusal
            theirs, failed = None, exc
        if ours is None and failed is not None:
            verdicts.append(count("agree-reject"))
        elif ours is None:
            limit = next((v for k, v in OUR_LIMITS.items() if k in reason), None)
            limit = limit or pc_quirk(data, theirs, reason)
            if limit is None:
                raise AssertionError(f"pycose reads {theirs!r:.80}; we refuse: {reason}")
            verdicts.append(count(limit))
        elif failed is not None:
            verdicts.append(count("pc-decode-error"))
        else:
            uhdr = {getattr(k, "identifier", k): v for k, v in theirs.uhdr.items()}
            phdr = {getattr(k, "identifier", k): v for k, v in theirs.phdr.items()}
            merged = {**phdr, **uhdr}
            alg = merged.get(1)
            alg = getattr(alg, "identifier", alg)
            content = (ours.payload, ours.tag) if mac else (ours.ciphertext,)
            if mac:
                got: tuple[object, ...] = (theirs.payload, theirs.auth_tag)
            else:
                got = (theirs.payload,)
            same = (
                alg == ours.alg
                and merged.get(4) == ours.kid
                and merged.get(6) == ours.partial_iv
                and tuple(bytes(x) for x in got) == content
            )
            if not same:
                raise AssertionError(f"pycose reads {merged!r:.100}, we {ours!r:.100}")
            verdicts.append(count("agree"))
        # Opening with the fixed keys: both refuse, or both give the same payload.
        why = ""
        try:
            ours_plain: bytes | None = ours_open(data, mac)
        except (DecodeError, AuthError) as exc:
            ours_plain, why = None, str(getattr(exc, "reason", exc))
        try:
            theirs_plain: bytes | None = theirs_open(data, mac)
        except Exception:
            theirs_plain = None
        if ours_plain != theirs_plain:
            if ours_plain is None and theirs_plain is not None and verdicts[0] != "agree":
                verdicts.append(count(f"open:{verdicts[0]}"))  # the same disagreement
                return verdicts
            limit = next((v for k, v in OUR_LIMITS.items() if k in why), None)
            if ours_plain is None and theirs_plain is not None and limit is not None:
                verdicts.append(count(f"open:{limit}"))
                return verdicts
            raise AssertionError(f"opened: ours {ours_plain!r:.60}, pycose {theirs_plain!r:.60}")
        verdicts.append(count("open-agree" if ours_plain is not None else "open-agree-reject"))
        return verdicts

    def sealed(plain: bytes) -> list[str]:
        ours_enc = cose.protect_encrypt0(
            plain, key=KEY_CCM, kid=KID, common_iv=COMMON_IV, seq=SEQ, external_aad=b""
        )
        ours_mac = cose.protect_mac0(plain, key=KEY_HMAC, kid=KID, seq=SEQ, external_aad=b"")
        uhdr = {headers.KID: KID, headers.PartialIV: piv}
        enc = messages.Enc0Message(
            phdr={headers.Algorithm: algorithms.AESCCM1664128}, uhdr=uhdr, payload=plain
        )
        enc.key = ccm_key
        mac = messages.Mac0Message(
            phdr={headers.Algorithm: algorithms.HMAC25664}, uhdr=uhdr, payload=plain
        )
        mac.key = hmac_key
        theirs_enc, theirs_mac = enc.encode(), mac.encode()
        for name, data, is_mac in (
            ("ours-enc", ours_enc, False),
            ("ours-mac", ours_mac, True),
            ("pc-enc", theirs_enc, False),
            ("pc-mac", theirs_mac, True),
        ):
            if ours_open(data, is_mac) != plain or theirs_open(data, is_mac) != plain:
                raise AssertionError(f"{name}: a side does not open to the plaintext")
            if data != (ours_mac if is_mac else ours_enc):
                raise AssertionError(f"{name}: pycose's bytes differ from ours")
            # Flip one byte of the tail (ciphertext / tag; position from the plaintext):
            # RFC 9052 §5.3 / §6.3: both must refuse.
            at = len(data) - 1 - (sum(plain) % min(8, len(data)))
            bad = data[:at] + bytes((data[at] ^ 0x01,)) + data[at + 1 :]
            try:
                ours_open(bad, is_mac)
                raise AssertionError(f"{name}: ours opens a tampered message")
            except (DecodeError, AuthError):
                pass
            try:
                theirs_open(bad, is_mac)
            except Exception:
                pass
            else:
                raise AssertionError(f"{name}: pycose opens a tampered message")
        return [count("sealed-agree")]

    def call(data: bytes) -> object:
        if not data:
            return None
        return sealed(data[1:]) if data[0] & 1 else structure(data[1:])

    return Target("diff_cose", call, (), "bytes", prefix=1)


def seeds() -> dict[str, bytes]:
    """Well-formed messages under the fixed keys and plaintexts (for the corpus)."""
    from smartmeter_proto.iot import cose

    plain = b"\xa1\x00\x01"
    enc = cose.protect_encrypt0(
        plain, key=KEY_CCM, kid=KID, common_iv=COMMON_IV, seq=SEQ, external_aad=b""
    )
    mac = cose.protect_mac0(plain, key=KEY_HMAC, kid=KID, seq=SEQ, external_aad=b"")
    return {
        "structure-encrypt0": b"\x00" + enc,
        "structure-mac0": b"\x00" + mac,
        "structure-encrypt0-truncated": b"\x00" + enc[:-3],
        "structure-mac0-bad-tag": b"\x00" + mac[:-1] + bytes((mac[-1] ^ 0xFF,)),
        "sealed-empty": b"\x01",
        "sealed-map": b"\x01" + plain,
        "sealed-text": b"\x01" + b"reading 845.31 m3" * 4,
    }


if __name__ == "__main__":
    sys.exit(main("diff_cose"))

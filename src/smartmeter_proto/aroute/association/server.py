"""Server side of a COSEM application association, sans-IO (IEC 62056-5-3, Green Book 9.3/9.4).

APDU bytes in (:meth:`AssociationServer.receive`), APDU bytes out
(:meth:`AssociationServer.apdus_to_send`); framing (wrapper, HDLC) is done elsewhere.

Choices (see the module docstring of :mod:`.` for the whole picture):

* A ciphered request whose tag does not verify, or whose invocation counter is replayed, is
  answered with an unciphered ExceptionResponse (service-not-allowed, deciphering-error or
  invocation-counter-error) and counted: the client learns at once why it got no data, and
  the answer carries nothing derived from the keys. Malformed bytes are dropped and counted.
* A service request before association (or during a pending HLS exchange other than the
  reply_to_HLS_authentication action) gets ExceptionResponse service-not-allowed /
  operation-not-possible.
* Every invocation counter the server sends (responses, f(CtoS), pushes through
  :meth:`AssociationServer.protect_apdu`) comes from its
  :class:`~smartmeter_proto.security_state.SendCounter`. When that counter is exhausted the
  server answers nothing more under the key: each refused answer is counted in
  ``stats.counter_exhausted`` (and :attr:`AssociationServer.exhausted` is true);
  ``protect_apdu`` raises :class:`~smartmeter_proto.security_state.CounterExhausted`. A key
  transfer is the way out: it is applied even when its answer could not be sent.
* Key transfer (Security setup method 2, global_key_transfer, Blue Book / IEC 62056-6-2
  §4.4.7): only in an authenticated request with a fresh counter, only with a ``master_key``
  (KEK) configured, all keys or none. The answer goes under the old keys, then the new ones
  are in force. A new encryption key starts a new counter, named after the key
  (:func:`..keys.send_counter`, a new key makes every value fresh, NIST SP 800-38D §8), in the
  same store, and a new replay window for the clients (:func:`..keys.counters_for_new_key`):
  traffic under the old key no longer verifies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum
from typing import Final

from ..._buffer import Cursor
from ...errors import AuthError, DecodeError
from ...security_state import CounterExhausted, SendCounter
from ...transitions import Transitions
from ..acse import (
    AARE,
    AARQ,
    RLRE,
    RLRQ,
    AcseServiceUserDiagnostic,
    ApplicationContextName,
    AssociationResult,
    ConfirmedServiceError,
    Conformance,
    InitiateRequest,
    InitiateResponse,
    ReleaseResponseReason,
    decode_acse,
)
from ..acse.initiate import DLMS_VERSION, INITIATE_REQUEST_TAG, pull_initiate_request
from ..apdu import (
    ActionOutcome,
    ActionRequestNormal,
    ActionRequestWithList,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResult,
    AttributeWithSelection,
    CosemMethodDescriptor,
    DataAccessResult,
    ExceptionResponse,
    ExceptionServiceError,
    ExceptionStateError,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
    InvokeIdAndPriority,
    SetRequestNormal,
    SetRequestWithList,
    SetResponseNormal,
    SetResponseWithList,
    decode_apdu,
)
from ..axdr import Data, DataType, encode_data
from ..context import RequestContext
from ..cosem import ClassId, CosemAccessError, CosemObject
from ..keys import (
    GLOBAL_KEY_TRANSFER_METHOD,
    KeyId,
    counters_for_new_key,
    parse_key_transfer,
    send_counter,
)
from ..obis import Obis
from ..security import (
    CipheringTag,
    InvocationCounters,
    SecurityControl,
    decode_ciphered,
    gmac_auth_value,
    protect,
    unprotect,
    verify_gmac_auth_value,
)
from .access import NEEDED, get_value, invoke_method, lookup, set_value
from .auth import ASSOCIATION_LN_CLASS as ASSOCIATION_LN_CLASS
from .auth import ASSOCIATION_LN_OBIS, HLS_METHOD, Authentication, check_mechanism
from .auth import CHALLENGE_MAX as CHALLENGE_MAX
from .auth import CHALLENGE_MIN as CHALLENGE_MIN
from .auth import REPLY_TO_HLS_METHOD as REPLY_TO_HLS_METHOD
from .blocks import BLOCK_HEADER, CIPHER_OVERHEAD, LongGet, result_list_bytes

__all__ = [
    "ASSOCIATION_LN_OBIS",
    "DEFAULT_SERVER_CONFORMANCE",
    "AssociationServer",
    "Authentication",
    "ServerState",
    "ServerStats",
]

#: Green Book 9.5 InitiateRequest: client-max-receive-pdu-size below 12 is refused.
MIN_PDU_SIZE = 12
#: ConfirmedServiceError values (Green Book 9.5): service initiateError [1],
#: ServiceError initiate [6]; Initiate values 1 dlms-version-too-low, 2 incompatible-conformance,
#: 3 pdu-size-too-short.
_INITIATE_ERROR, _SERVICE_ERROR_INITIATE = 1, 6
_VERSION_TOO_LOW, _INCOMPATIBLE_CONFORMANCE, _PDU_TOO_SHORT = 1, 2, 3

#: glo-/general-glo-ciphering request tags the server deciphers, and the response tag for each.
_RESPONSE_TAG: dict[int, int | None] = {
    CipheringTag.GLO_GET_REQUEST: CipheringTag.GLO_GET_RESPONSE,
    CipheringTag.GLO_SET_REQUEST: CipheringTag.GLO_SET_RESPONSE,
    CipheringTag.GLO_ACTION_REQUEST: CipheringTag.GLO_ACTION_RESPONSE,
    CipheringTag.GENERAL_GLO_CIPHERING: None,  # answered in general-glo-ciphering
}
# glo-initiate-request (0x21) in the AARQ is answered by glo-initiate-response (0x28)
_GLO_INITIATE_REQUEST = CipheringTag.GLO_INITIATE_REQUEST
_GLO_INITIATE_RESPONSE = CipheringTag.GLO_INITIATE_RESPONSE

_AR = ActionResult

#: What this server implements: GET/SET/ACTION (normal and with-list), selective access and
#: GET block transfer (Green Book 9.5 conformance block bit names).
DEFAULT_SERVER_CONFORMANCE = (
    Conformance.GET
    | Conformance.SET
    | Conformance.ACTION
    | Conformance.SELECTIVE_ACCESS
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
)


class ServerState(IntEnum):
    IDLE = 0
    HLS_PENDING = 1
    ASSOCIATED = 2


class ServerInput(Enum):
    """What moves the server (Green Book 9.4: AARQ/AARE, HLS pass 3/4, RLRQ/RLRE)."""

    ACCEPTED = "an AARQ accepted (no HLS)"
    CHALLENGED = "an AARQ accepted with HLS: the AARE carries StoC"
    VERIFIED = "the client's f(StoC) verified; f(CtoS) answered"
    RESET = "an AARQ rejected, an RLRQ, or f(StoC) failed"


#: Every move of :class:`AssociationServer`; its state changes through this table only.
#: A new AARQ is taken in any state (it replaces the association).
SERVER_TRANSITIONS: Final = (
    Transitions[ServerState, ServerInput](
        "association server",
        {(ServerState.HLS_PENDING, ServerInput.VERIFIED): ServerState.ASSOCIATED},
    )
    .from_every(ServerState, ServerInput.ACCEPTED, ServerState.ASSOCIATED)
    .from_every(ServerState, ServerInput.CHALLENGED, ServerState.HLS_PENDING)
    .from_every(ServerState, ServerInput.RESET, ServerState.IDLE)
)


@dataclass(slots=True)
class ServerStats:
    """What the server dropped or refused, by cause."""

    malformed: int = 0
    refused_not_associated: int = 0
    auth_failed: int = 0
    replayed: int = 0
    associations_rejected: int = 0
    counter_exhausted: int = 0  # answers or pushes not sent: the send counter is exhausted
    keys_transferred: int = 0
    key_transfers_refused: int = 0


@dataclass(frozen=True, slots=True)
class _Security:
    """How one request arrived: ciphering tag (None: plain) and what was verified."""

    tag: int | None = None
    security_control: SecurityControl | None = None
    authenticated: bool = False
    system_title: bytes | None = None


_PLAIN = _Security()


_NO_CONFORMANCE = Conformance(0)


@dataclass(slots=True)
class _Session:
    context: ApplicationContextName | int = ApplicationContextName.LOGICAL_NAME
    conformance: Conformance = _NO_CONFORMANCE
    client_max_pdu: int = 0xFFFF
    client_system_title: bytes | None = None
    challenge_ctos: bytes = b""
    challenge_stoc: bytes = b""
    long_get: LongGet | None = None
    hls_done: bool = False


class AssociationServer:
    """One COSEM server (logical device) answering one client association at a time.

    ``objects`` maps logical names to COSEM objects; those implementing
    :class:`~smartmeter_proto.aroute.context.ContextualObject` get ``set_in``/``invoke_in`` with a
    :class:`..context.RequestContext`. ``password`` is the LLS secret (``LLS``);
    ``client_counters`` remembers the clients' invocation counters across associations (on
    :class:`~smartmeter_proto.security_state.ReplayFloors` it survives a restart, see
    :func:`..keys.replay_counters`). ``counter`` hands out the server's own invocation
    counters (required; :func:`..keys.send_counter` names it after the key, as a key transfer
    does). ``master_key`` (KEK) enables global_key_transfer; ``on_new_keys(ek, ak)`` is
    called when transferred keys come into force, for the caller to keep them.
    ``challenge`` makes StoC deterministic in tests.
    """

    def __init__(
        self,
        objects: Mapping[Obis, CosemObject],
        *,
        system_title: bytes,
        ek: bytes,
        ak: bytes,
        authentication: Authentication = Authentication.LOWEST,
        password: bytes | None = None,
        conformance: Conformance = DEFAULT_SERVER_CONFORMANCE,
        max_pdu_size: int = 1024,
        client_counters: InvocationCounters | None = None,
        counter: SendCounter,
        master_key: bytes | None = None,
        on_new_keys: Callable[[bytes, bytes], None] | None = None,
        security_control: int = 0x30,
        challenge: Callable[[], bytes] | None = None,
    ) -> None:
        if len(system_title) != 8:
            raise ValueError("system title must be 8 bytes")
        if authentication is Authentication.LLS and not password:
            raise ValueError("LLS needs a password")
        if not isinstance(counter, SendCounter):
            raise TypeError(f"counter must be a SendCounter, not {type(counter).__name__}")
        if master_key is not None and len(master_key) != len(ek):
            raise ValueError(f"master key must be {len(ek)} bytes, got {len(master_key)}")
        self.objects = objects
        self.system_title = bytes(system_title)
        self._ek, self._ak = bytes(ek), bytes(ak)
        self.authentication = authentication
        self._password = password
        self.conformance = Conformance(conformance)
        self.max_pdu_size = max_pdu_size
        self.client_counters = InvocationCounters() if client_counters is None else client_counters
        self.counter = counter
        self._master_key = None if master_key is None else bytes(master_key)
        self._on_new_keys = on_new_keys
        self._pending_keys: tuple[bytes, bytes] | None = None
        self.security_control = security_control
        self._challenge = challenge or (lambda: os.urandom(16))
        self.state = ServerState.IDLE
        self.stats = ServerStats()
        self._session = _Session()
        self._out: list[bytes] = []

    def __repr__(self) -> str:
        return (
            f"AssociationServer(system_title={self.system_title.hex()}, "
            f"state={self.state.name}, keys=<masked>)"
        )

    # --- public surface --------------------------------------------------------------------

    def apdus_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    @property
    def invocation_counter(self) -> int:
        """The invocation counter the next ciphered APDU will carry (read-only)."""
        return self.counter.peek

    @property
    def exhausted(self) -> bool:
        """True when nothing more can be sent under the current key."""
        return self.counter.remaining == 0

    def restarted(self) -> AssociationServer:
        """The same server after a device restart: no association, the keys in force and the
        same settings. The send counter is reopened from its store (what was reserved and not
        used is skipped); a replay window on ReplayFloors is reopened from them (everything
        up to the stored floors refused), one without floors is carried over as it is."""
        counters = self.client_counters
        if counters.floors is not None:
            counters = InvocationCounters(counters.window, floors=counters.floors)
        return AssociationServer(
            self.objects,
            system_title=self.system_title,
            ek=self._ek,
            ak=self._ak,
            authentication=self.authentication,
            password=self._password,
            conformance=self.conformance,
            max_pdu_size=self.max_pdu_size,
            client_counters=counters,
            counter=self.counter.reopened(),
            master_key=self._master_key,
            on_new_keys=self._on_new_keys,
            security_control=self.security_control,
            challenge=self._challenge,
        )

    def protect_apdu(self, apdu: bytes) -> bytes:
        """Cipher a server-originated APDU (a push) in general-glo-ciphering with this
        server's keys and invocation counter, so pushes and responses never reuse an IV.
        Raises CounterExhausted (counted in ``stats.counter_exhausted``) at the last value."""
        return self._protect(apdu, None, None)

    def receive(self, apdu: bytes, now: datetime) -> None:
        """Handle one APDU from the client; never raises on bad input."""
        try:
            self._receive(bytes(apdu), now)
        except DecodeError as exc:  # malformed at any layer
            del exc
            self.stats.malformed += 1
        except CounterExhausted:
            pass  # counted by _protect; nothing more is sent under this key

    # --- dispatch --------------------------------------------------------------------------

    def _receive(self, apdu: bytes, now: datetime) -> None:
        if not apdu:
            raise DecodeError("association", 0, "empty APDU")
        tag = apdu[0]
        if 0x60 <= tag <= 0x63:
            self._acse(decode_acse(apdu), now)
            return
        sec = _PLAIN
        if tag in _RESPONSE_TAG:
            unwrapped = self._unprotect(apdu)
            if unwrapped is None:
                return
            apdu, sec = unwrapped
        self._service(apdu, sec, now)

    def _unprotect(self, apdu: bytes) -> tuple[bytes, _Security] | None:
        header = decode_ciphered(apdu)
        title = header.system_title or self._session.client_system_title
        replay = False
        try:
            if title is not None:
                try:
                    self.client_counters.check(title, header.invocation_counter)
                except AuthError:
                    replay = True
                    raise
            u = unprotect(
                apdu, ek=self._ek, ak=self._ak, counters=self.client_counters, system_title=title
            )
        except AuthError:
            if replay:
                self.stats.replayed += 1
            else:
                self.stats.auth_failed += 1
            error = (
                ExceptionServiceError.INVOCATION_COUNTER_ERROR
                if replay
                else ExceptionServiceError.DECIPHERING_ERROR
            )
            self._out.append(
                ExceptionResponse(ExceptionStateError.SERVICE_NOT_ALLOWED, error).encode()
            )
            return None
        return u.apdu, _Security(
            u.ciphering_tag, u.security_control, u.security_control.authenticated, u.system_title
        )

    def _service(self, apdu: bytes, sec: _Security, now: datetime) -> None:
        request = decode_apdu(apdu, strict=True)
        hls_reply = isinstance(request, ActionRequestNormal) and request.method == HLS_METHOD
        if self.state is ServerState.IDLE or (
            self.state is ServerState.HLS_PENDING and not hls_reply
        ):
            self.stats.refused_not_associated += 1
            self._reply(
                ExceptionResponse(
                    ExceptionStateError.SERVICE_NOT_ALLOWED,
                    ExceptionServiceError.OPERATION_NOT_POSSIBLE,
                ).encode(),
                _PLAIN,
            )
            return
        ctx = RequestContext(
            sec.authenticated,
            sec.authenticated,
            now,
            sec.system_title or self._session.client_system_title,
        )
        try:
            response = self._dispatch(request, ctx, sec)
            if response is not None:
                self._reply(response, sec)  # a key transfer is answered under the old keys
        finally:
            if self._pending_keys is not None:
                self._switch_keys(*self._pending_keys)

    def _dispatch(self, request: object, ctx: RequestContext, sec: _Security) -> bytes | None:
        negotiated = self._session.conformance
        need = NEEDED.get(type(request))
        if need is None or not negotiated & need:
            state = (
                ExceptionStateError.SERVICE_UNKNOWN
                if need is None
                else ExceptionStateError.SERVICE_NOT_ALLOWED
            )
            return ExceptionResponse(state, ExceptionServiceError.SERVICE_NOT_SUPPORTED).encode()
        if isinstance(request, GetRequestNormal):
            return self._get_normal(request, sec)
        if isinstance(request, GetRequestNext):
            return self._get_next(request)
        if isinstance(request, GetRequestWithList):
            return self._get_list(request, sec)
        if isinstance(request, SetRequestNormal):
            result = set_value(
                self.objects, request.attribute, request.access is not None, request.value, ctx
            )
            return SetResponseNormal(result, request.invoke).encode()
        if isinstance(request, SetRequestWithList):
            if len(request.attributes) != len(request.values):
                return SetResponseWithList(
                    (DataAccessResult.OTHER_REASON,) * len(request.attributes), request.invoke
                ).encode()
            results = tuple(
                set_value(self.objects, a.attribute, a.access is not None, v, ctx)
                for a, v in zip(request.attributes, request.values, strict=True)
            )
            return SetResponseWithList(results, request.invoke).encode()
        if isinstance(request, ActionRequestNormal):
            outcome = self._action_one(request.method, request.parameters, ctx, sec)
            return ActionResponseNormal(outcome, request.invoke).encode()
        if isinstance(request, ActionRequestWithList):
            if len(request.methods) != len(request.parameters):
                bad = ActionOutcome(_AR.OTHER_REASON)
                return ActionResponseWithList(
                    (bad,) * len(request.methods), request.invoke
                ).encode()
            return ActionResponseWithList(
                tuple(
                    self._action_one(m, p, ctx, sec)
                    for m, p in zip(request.methods, request.parameters, strict=True)
                ),
                request.invoke,
            ).encode()
        return None  # pragma: no cover - NEEDED lists exactly the handled types

    def _reply(self, apdu: bytes, sec: _Security) -> None:
        if sec.tag is None:
            self._out.append(apdu)
        else:
            self._out.append(self._protect(apdu, sec.security_control, _RESPONSE_TAG.get(sec.tag)))

    def _protect(self, apdu: bytes, sc: SecurityControl | None, service_tag: int | None) -> bytes:
        """Cipher with the server's title and next IC; general-glo unless ``service_tag``."""
        if sc is None:
            sc = SecurityControl.from_byte(self.security_control)
        try:
            ic = self.counter.next()
        except CounterExhausted:
            self.stats.counter_exhausted += 1
            raise
        return protect(
            apdu,
            security_control=sc,
            system_title=self.system_title,
            invocation_counter=ic,
            ek=self._ek,
            ak=self._ak,
            service_tag=service_tag,
        )

    # --- GET -------------------------------------------------------------------------------

    def _send_limit(self, sec: _Security) -> int:
        limit = min(self._session.client_max_pdu, self.max_pdu_size)
        return limit - (CIPHER_OVERHEAD if sec.tag is not None else 0)

    def _get_normal(self, request: GetRequestNormal, sec: _Security) -> bytes:
        self._session.long_get = None
        result = get_value(
            self.objects,
            AttributeWithSelection(request.attribute, request.access),
            self._session.conformance,
        )
        response = GetResponseNormal(result, request.invoke).encode()
        if len(response) <= self._send_limit(sec) or not isinstance(result, Data):
            return response
        return self._start_long_get(request.invoke, encode_data(result), sec)

    def _get_list(self, request: GetRequestWithList, sec: _Security) -> bytes:
        self._session.long_get = None
        results = tuple(
            get_value(self.objects, item, self._session.conformance) for item in request.attributes
        )
        response = GetResponseWithList(results, request.invoke).encode()
        if len(response) <= self._send_limit(sec):
            return response
        return self._start_long_get(request.invoke, result_list_bytes(results), sec)

    def _start_long_get(self, invoke: InvokeIdAndPriority, raw: bytes, sec: _Security) -> bytes:
        block_size = self._send_limit(sec) - BLOCK_HEADER
        if (
            not self._session.conformance & Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
            or block_size < 1
        ):
            return GetResponseNormal(DataAccessResult.OTHER_REASON, invoke).encode()
        self._session.long_get = LongGet(invoke, raw, block_size)
        return self._next_block()

    def _next_block(self) -> bytes:
        lg = self._session.long_get
        assert lg is not None
        response, last = lg.next_block()
        if last:
            self._session.long_get = None
        return response

    def _get_next(self, request: GetRequestNext) -> bytes:
        lg = self._session.long_get
        if lg is None:
            return GetResponseWithDatablock(
                True, request.block_number, DataAccessResult.NO_LONG_GET_IN_PROGRESS, request.invoke
            ).encode()
        if request.block_number != lg.sent:
            self._session.long_get = None
            return GetResponseWithDatablock(
                True,
                request.block_number,
                DataAccessResult.DATA_BLOCK_NUMBER_INVALID,
                request.invoke,
            ).encode()
        return self._next_block()

    # --- SET and ACTION --------------------------------------------------------------------

    def _action_one(
        self,
        method: CosemMethodDescriptor,
        parameters: Data | None,
        ctx: RequestContext,
        sec: _Security,
    ) -> ActionOutcome:
        if method == HLS_METHOD:
            return self._reply_to_hls(parameters, sec)
        if (
            method.class_id == ClassId.SECURITY_SETUP
            and method.method_id == GLOBAL_KEY_TRANSFER_METHOD
        ):
            target = lookup(self.objects, method)
            if isinstance(target, int):
                return ActionOutcome(target)
            return self._key_transfer(parameters, ctx)
        return invoke_method(self.objects, method, parameters, ctx)

    def _key_transfer(self, parameters: Data | None, ctx: RequestContext) -> ActionOutcome:
        """global_key_transfer: unwrap every key with the master key; the keys come into
        force once the answer is ciphered (:meth:`_service`). Only the global unicast
        encryption key and the authentication key are taken (key ids 0 and 2)."""
        if self._master_key is None or ctx.authenticated is not True or ctx.fresh is not True:
            self.stats.key_transfers_refused += 1
            return ActionOutcome(_AR.READ_WRITE_DENIED)
        try:
            keys = parse_key_transfer(parameters, self._master_key)
        except CosemAccessError as exc:
            self.stats.key_transfers_refused += 1
            return ActionOutcome(int(exc.result))
        except AuthError:
            self.stats.key_transfers_refused += 1
            return ActionOutcome(_AR.OTHER_REASON)
        if not set(keys) <= {KeyId.GLOBAL_UNICAST_ENCRYPTION, KeyId.AUTHENTICATION}:
            self.stats.key_transfers_refused += 1
            return ActionOutcome(_AR.OTHER_REASON)
        self._pending_keys = (
            keys.get(KeyId.GLOBAL_UNICAST_ENCRYPTION, self._ek),
            keys.get(KeyId.AUTHENTICATION, self._ak),
        )
        return ActionOutcome(_AR.SUCCESS)

    def _switch_keys(self, ek: bytes, ak: bytes) -> None:
        """Put transferred keys in force: a new encryption key gets its own counter and
        replay window (module docstring)."""
        self._pending_keys = None
        if ek != self._ek:
            old = self.counter
            self.counter = send_counter(
                old.store, self.system_title, ek, limit=old.limit, block=old.block
            )
            self.client_counters = counters_for_new_key(self.client_counters, self.system_title, ek)
        self._ek, self._ak = ek, ak
        self.stats.keys_transferred += 1
        if self._on_new_keys is not None:
            self._on_new_keys(ek, ak)

    def _reply_to_hls(self, parameters: Data | None, sec: _Security) -> ActionOutcome:
        """Pass 3/4 of HLS-GMAC: check f(StoC) from the client, answer f(CtoS)."""
        s = self._session
        title = s.client_system_title
        if (
            self.state is not ServerState.HLS_PENDING
            or title is None
            or parameters is None
            or parameters.type != DataType.OCTET_STRING
            or not isinstance(parameters.value, bytes)
        ):
            return ActionOutcome(_AR.READ_WRITE_DENIED)
        try:
            # freshness comes from our random StoC; the IC inside f(StoC) is not recorded,
            # since the ciphered ACTION carrying it already used a later counter
            verify_gmac_auth_value(
                parameters.value, s.challenge_stoc, system_title=title, ek=self._ek, ak=self._ak
            )
        except AuthError:
            self.stats.auth_failed += 1
            self._move(ServerInput.RESET)
            return ActionOutcome(_AR.READ_WRITE_DENIED)
        try:
            ic = self.counter.next()
        except CounterExhausted:
            self.stats.counter_exhausted += 1
            raise
        value = gmac_auth_value(
            s.challenge_ctos,
            system_title=self.system_title,
            invocation_counter=ic,
            ek=self._ek,
            ak=self._ak,
        )
        self._move(ServerInput.VERIFIED)
        s.hls_done = True
        return ActionOutcome(_AR.SUCCESS, Data(DataType.OCTET_STRING, value))

    # --- ACSE ------------------------------------------------------------------------------

    def _move(self, event: ServerInput) -> None:
        self.state = SERVER_TRANSITIONS.next(self.state, event)

    def _acse(self, apdu: object, now: datetime) -> None:
        if isinstance(apdu, AARQ):
            self._out.append(self._associate(apdu))
        elif isinstance(apdu, RLRQ):
            self._move(ServerInput.RESET)
            self._session = _Session()
            self._out.append(RLRE(ReleaseResponseReason.NORMAL).encode())
        else:  # AARE/RLRE sent to a server
            raise DecodeError("association", 0, "the server does not accept AARE/RLRE")

    def _reject(
        self,
        aarq: AARQ,
        diagnostic: int,
        info: ConfirmedServiceError | None = None,
        context: int | None = None,
    ) -> bytes:
        self.stats.associations_rejected += 1
        self._move(ServerInput.RESET)
        self._session = _Session()
        return AARE(
            result=AssociationResult.REJECTED_PERMANENT,
            diagnostic=diagnostic,
            application_context=aarq.application_context if context is None else context,
            user_information=info,
        ).encode()

    def _initiate(self, aarq: AARQ) -> tuple[InitiateRequest, bool] | None:
        """The InitiateRequest (deciphered if it came as glo-initiate-request)."""
        info = aarq.user_information
        if isinstance(info, InitiateRequest):
            return info, False
        if (
            not isinstance(info, bytes)
            or not info
            or info[0] != _GLO_INITIATE_REQUEST
            or aarq.calling_ap_title is None
        ):
            return None
        try:
            plain = unprotect(
                info,
                ek=self._ek,
                ak=self._ak,
                counters=self.client_counters,
                system_title=aarq.calling_ap_title,
            ).apdu
        except AuthError:
            self.stats.auth_failed += 1
            return None
        cur = Cursor(plain, "association")
        if cur.pull_uint8("xDLMS tag") != INITIATE_REQUEST_TAG:
            return None
        request = pull_initiate_request(cur)
        cur.expect_end("InitiateRequest")
        return request, True

    def _associate(self, aarq: AARQ) -> bytes:
        ctx = aarq.application_context
        if ctx not in (
            ApplicationContextName.LOGICAL_NAME,
            ApplicationContextName.LOGICAL_NAME_CIPHERED,
        ):
            return self._reject(
                aarq,
                _D.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
                context=ApplicationContextName.LOGICAL_NAME,
            )
        ciphered_ctx = ctx == ApplicationContextName.LOGICAL_NAME_CIPHERED
        if ciphered_ctx and (aarq.calling_ap_title is None or len(aarq.calling_ap_title) != 8):
            return self._reject(aarq, _D.CALLING_AP_TITLE_NOT_RECOGNIZED)
        bad = check_mechanism(aarq, self.authentication, self._password)
        if bad is not None:
            if bad == _D.AUTHENTICATION_FAILURE:
                self.stats.auth_failed += 1
            return self._reject(aarq, bad)
        initiate = self._initiate(aarq)
        if initiate is None:
            return self._reject(aarq, _D.NO_REASON_GIVEN)
        request, ciphered_init = initiate
        error = None
        negotiated = Conformance(request.conformance & self.conformance)
        if request.dlms_version < DLMS_VERSION:
            error = _VERSION_TOO_LOW
        elif not negotiated:
            error = _INCOMPATIBLE_CONFORMANCE
        elif (
            request.client_max_receive_pdu_size
            and request.client_max_receive_pdu_size < MIN_PDU_SIZE
        ):
            error = _PDU_TOO_SHORT
        if error is not None:
            return self._reject(
                aarq,
                _D.NO_REASON_GIVEN,
                ConfirmedServiceError(_INITIATE_ERROR, _SERVICE_ERROR_INITIATE, error),
            )
        hls = self.authentication is Authentication.HLS_GMAC
        initiate_response = InitiateResponse(negotiated, self.max_pdu_size)
        response: InitiateResponse | bytes = initiate_response
        if ciphered_init:  # before any state changes: raises CounterExhausted when exhausted
            response = self._protect(initiate_response.encode(), None, _GLO_INITIATE_RESPONSE)
        self._session = _Session(
            context=ctx,
            conformance=negotiated,
            client_max_pdu=request.client_max_receive_pdu_size or 0xFFFF,
            client_system_title=aarq.calling_ap_title,
            challenge_ctos=(aarq.calling_authentication_value or b"") if hls else b"",
            challenge_stoc=self._challenge() if hls else b"",
        )
        self._move(ServerInput.CHALLENGED if hls else ServerInput.ACCEPTED)
        return AARE(
            result=AssociationResult.ACCEPTED,
            diagnostic=_D.AUTHENTICATION_REQUIRED if hls else _D.NULL,
            application_context=ctx,
            user_information=response,
            responding_ap_title=self.system_title if (ciphered_ctx or hls) else None,
            mechanism_name=aarq.mechanism_name
            if self.authentication is not Authentication.LOWEST
            else None,
            responder_acse_requirements=True if hls else None,
            responding_authentication_value=self._session.challenge_stoc if hls else None,
        ).encode()


_D = AcseServiceUserDiagnostic

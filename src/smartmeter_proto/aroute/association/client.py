"""Client side of a COSEM application association, sans-IO (IEC 62056-5-3, Green Book 9.3/9.4).

Requests are queued by :meth:`AssociationClient.get`/``set``/``action`` and sent one at a
time (a confirmed service waits for its response; GET block transfer is reassembled
transparently). Time is a float of seconds passed in by the caller; :meth:`next_deadline`
and :meth:`handle_timeout` drive the request timeout with bounded retries. A ciphered
request is re-ciphered with a new invocation counter when it is retried, since the server
rejects a replayed counter.

Every invocation counter comes from the caller's
:class:`~smartmeter_proto.security_state.SendCounter` (durable, never reused across
restarts). When it is exhausted a request call raises
:class:`~smartmeter_proto.security_state.CounterExhausted`; a request already queued, a
retry or a block that finds it exhausted ends with a :class:`SendCounterExhausted` event.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Final

from ..._buffer import Cursor
from ...errors import AuthError, DecodeError, SessionError
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
    MechanismName,
    decode_acse,
)
from ..acse.initiate import INITIATE_RESPONSE_TAG, pull_initiate_response
from ..apdu import (
    ActionRequestNormal,
    ActionResponseNormal,
    AttributeWithSelection,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    DataNotification,
    ExceptionResponse,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
    InvokeIdAndPriority,
    SelectiveAccess,
    SetRequestNormal,
    SetResponseNormal,
    decode_apdu,
)
from ..apdu import ActionResult as ActionResultCode
from ..axdr import Data
from ..cosem import ClassId
from ..keys import (
    GLOBAL_KEY_TRANSFER_METHOD,
    SECURITY_SETUP_OBIS,
    KeyId,
    counters_for_new_key,
    key_transfer_parameter,
)
from ..obis import Obis
from ..security import (
    CipheringTag,
    InvocationCounters,
    protect,
    unprotect,
    verify_gmac_auth_value,
)
from .auth import Authentication, hls_reply_request
from .blocks import assembled_event, failed_event
from .events import (
    ActionResult,
    Associated,
    AssociationRefused,
    ClientEvent,
    ExceptionReceived,
    GetListResult,
    GetResult,
    Pushed,
    Released,
    RequestTimedOut,
    SendCounterExhausted,
    SetResult,
    push_time,
    rejection_text,
)

__all__ = [
    "ActionResult",
    "Associated",
    "AssociationClient",
    "AssociationRefused",
    "ClientEvent",
    "ClientState",
    "ExceptionReceived",
    "GetListResult",
    "GetResult",
    "Pushed",
    "Released",
    "RequestTimedOut",
    "SendCounterExhausted",
    "SetResult",
]

#: Conformance a client proposes by default (Green Book 9.5 bit names).
DEFAULT_CLIENT_CONFORMANCE = (
    Conformance.GET
    | Conformance.SET
    | Conformance.ACTION
    | Conformance.SELECTIVE_ACCESS
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.DATA_NOTIFICATION
)
#: glo-xxx-request tag for each plain request tag (IEC 62056-5-3 xDLMS ASN.1).
_GLO_REQUEST = {
    0xC0: CipheringTag.GLO_GET_REQUEST,
    0xC1: CipheringTag.GLO_SET_REQUEST,
    0xC3: CipheringTag.GLO_ACTION_REQUEST,
}
_CIPHERED_IN = frozenset(
    {
        CipheringTag.GLO_GET_RESPONSE,
        CipheringTag.GLO_SET_RESPONSE,
        CipheringTag.GLO_ACTION_RESPONSE,
        CipheringTag.GENERAL_GLO_CIPHERING,
    }
)
_ACSE_TAGS = range(0x60, 0x64)
_INVOKE_IDS = 16  # 4-bit invoke id (Green Book 9.5 Invoke-Id-And-Priority)


class ClientState(IntEnum):
    IDLE = 0
    ASSOCIATING = 1
    HLS_PENDING = 2
    ASSOCIATED = 3
    RELEASING = 4


class ClientInput(Enum):
    """What moves the client (Green Book 9.4: AARQ/AARE, HLS pass 3/4, RLRQ/RLRE)."""

    ASSOCIATE = "associate() sent the AARQ"
    ACCEPTED = "the AARE accepted the association (no HLS)"
    CHALLENGED = "the AARE carried the server's HLS challenge; f(StoC) sent"
    VERIFIED = "the server's f(CtoS) verified"
    RELEASE = "release() sent the RLRQ"
    RESET = "refused, released, timed out or a fatal error"


#: Every move of :class:`AssociationClient`; its state changes through this table only.
CLIENT_TRANSITIONS: Final = Transitions[ClientState, ClientInput](
    "association client",
    {
        (ClientState.IDLE, ClientInput.ASSOCIATE): ClientState.ASSOCIATING,
        (ClientState.ASSOCIATING, ClientInput.ACCEPTED): ClientState.ASSOCIATED,
        (ClientState.ASSOCIATING, ClientInput.CHALLENGED): ClientState.HLS_PENDING,
        (ClientState.HLS_PENDING, ClientInput.VERIFIED): ClientState.ASSOCIATED,
        (ClientState.ASSOCIATED, ClientInput.RELEASE): ClientState.RELEASING,
    },
).from_every(ClientState, ClientInput.RESET, ClientState.IDLE)


@dataclass(slots=True)
class ClientStats:
    malformed: int = 0
    auth_failed: int = 0
    unexpected: int = 0
    retries: int = 0


@dataclass(slots=True)
class _Request:
    kind: str  # "acse", "get", "get_list", "set", "action", "hls"
    invoke_id: int | None
    plain: bytes
    ciphered: bool
    retries_left: int
    deadline: float = 0.0
    blocks: bytearray = field(default_factory=bytearray)
    next_block: int = 1
    new_keys: tuple[bytes, bytes] | None = None  # (ek, ak) a key transfer puts in force


class AssociationClient:
    """A COSEM client association. ``ek``/``ak`` None: no ciphering (application context
    LN); with keys the context is LN with ciphering and requests are ciphered unless a call
    says ``ciphered=False``.

    ``counter`` hands out this client's invocation counters (required: where they come from
    decides whether a restart reuses a GCM IV; one counter may serve every association of a
    head end). ``server_counters`` is the replay window for the server's APDUs (give one on
    :class:`~smartmeter_proto.security_state.ReplayFloors` so that it survives a restart,
    see :func:`~smartmeter_proto.aroute.keys.replay_counters`).
    """

    def __init__(
        self,
        *,
        system_title: bytes,
        ek: bytes | None = None,
        ak: bytes | None = None,
        server_system_title: bytes | None = None,
        authentication: Authentication = Authentication.LOWEST,
        password: bytes | None = None,
        conformance: Conformance = DEFAULT_CLIENT_CONFORMANCE,
        max_pdu_size: int = 1024,
        counter: SendCounter,
        server_counters: InvocationCounters | None = None,
        security_control: int = 0x30,
        general_ciphering: bool = False,
        timeout: float = 5.0,
        retries: int = 2,
        challenge: Callable[[], bytes] | None = None,
    ) -> None:
        if len(system_title) != 8:
            raise ValueError("system title must be 8 bytes")
        if (ek is None) != (ak is None):
            raise ValueError("give both ek and ak, or neither")
        if authentication is Authentication.HLS_GMAC and ek is None:
            raise ValueError("HLS-GMAC needs ek and ak")
        if not isinstance(counter, SendCounter):
            raise TypeError(f"counter must be a SendCounter, not {type(counter).__name__}")
        self.system_title = bytes(system_title)
        self._ek, self._ak = ek, ak
        self.server_system_title = server_system_title
        self.authentication = authentication
        self._password = password
        self.conformance = conformance
        self.max_pdu_size = max_pdu_size
        self.counter = counter
        self.security_control = security_control
        self.general_ciphering = general_ciphering
        self.timeout, self.retries = timeout, retries
        self._challenge = challenge or (lambda: os.urandom(16))
        self.server_counters = InvocationCounters() if server_counters is None else server_counters
        self.state = ClientState.IDLE
        self.stats = ClientStats()
        self.negotiated: Conformance | None = None
        self._ctos = b""
        self._now = 0.0
        self._next_id = 0
        self._queue: deque[_Request] = deque()
        self._inflight: _Request | None = None
        self._out: list[bytes] = []
        self._events: list[ClientEvent] = []

    def __repr__(self) -> str:
        return f"AssociationClient(state={self.state.name}, keys=<masked>)"

    @property
    def ciphered(self) -> bool:
        return self._ek is not None

    @property
    def invocation_counter(self) -> int:
        """The invocation counter the next ciphered APDU will carry (read-only)."""
        return self.counter.peek

    # --- caller API ------------------------------------------------------------------------

    def associate(self, now: float) -> None:
        if self.state is not ClientState.IDLE:
            raise SessionError(f"associate() in state {self.state.name}")
        self._now = now
        aarq = self._aarq()  # raises CounterExhausted before any state changes
        self._move(ClientInput.ASSOCIATE)
        self._submit(_Request("acse", None, aarq, False, self.retries))

    def get(
        self,
        obis: Obis,
        class_id: int,
        attribute: int,
        *,
        access: SelectiveAccess | None = None,
        ciphered: bool | None = None,
        now: float | None = None,
    ) -> int:
        """GET one attribute; ``now`` (recommended) starts the request's timer from that
        time, else from the last time the client was given."""
        self._clock(now)
        invoke = self._invoke()
        desc = CosemAttributeDescriptor(class_id, bytes(obis), attribute)
        return self._service(
            "get", GetRequestNormal(desc, access, invoke).encode(), invoke, ciphered
        )

    def get_list(
        self,
        items: list[tuple[Obis, int, int]],
        *,
        ciphered: bool | None = None,
        now: float | None = None,
    ) -> int:
        self._clock(now)
        invoke = self._invoke()
        attrs = tuple(
            AttributeWithSelection(CosemAttributeDescriptor(c, bytes(o), a)) for o, c, a in items
        )
        return self._service(
            "get_list", GetRequestWithList(attrs, invoke).encode(), invoke, ciphered
        )

    def set(
        self,
        obis: Obis,
        class_id: int,
        attribute: int,
        value: Data,
        *,
        ciphered: bool | None = None,
        now: float | None = None,
    ) -> int:
        self._clock(now)
        invoke = self._invoke()
        desc = CosemAttributeDescriptor(class_id, bytes(obis), attribute)
        return self._service(
            "set", SetRequestNormal(desc, value, None, invoke).encode(), invoke, ciphered
        )

    def action(
        self,
        obis: Obis,
        class_id: int,
        method: int,
        parameter: Data | None = None,
        *,
        ciphered: bool | None = None,
        now: float | None = None,
    ) -> int:
        self._clock(now)
        invoke = self._invoke()
        desc = CosemMethodDescriptor(class_id, bytes(obis), method)
        return self._service(
            "action", ActionRequestNormal(desc, parameter, invoke).encode(), invoke, ciphered
        )

    def transfer_keys(
        self,
        master_key: bytes,
        *,
        ek: bytes | None = None,
        ak: bytes | None = None,
        security_setup: Obis = SECURITY_SETUP_OBIS,
        now: float | None = None,
    ) -> int:
        """Replace the server's global keys: ACTION Security setup method 2,
        global_key_transfer (Blue Book, IEC 62056-6-2 §4.4.7), each key wrapped with
        ``master_key`` (RFC 3394).

        The request goes ciphered under the current keys, and the server answers under them.
        On success this client takes the new keys before its next request; its replay window
        for the server starts again under the new encryption key (the server's counter starts
        again under it too); its own counter continues. Returns the invoke id of the
        :class:`ActionResult` to wait for.
        """
        if not self.ciphered:
            raise ValueError("a key transfer needs a ciphering association")
        assert self._ek is not None
        assert self._ak is not None
        keys: dict[KeyId, bytes] = {}
        if ek is not None:
            keys[KeyId.GLOBAL_UNICAST_ENCRYPTION] = bytes(ek)
        if ak is not None:
            keys[KeyId.AUTHENTICATION] = bytes(ak)
        parameter = key_transfer_parameter(master_key, keys)  # checks every length
        self._clock(now)
        invoke = self._invoke()
        desc = CosemMethodDescriptor(
            ClassId.SECURITY_SETUP, bytes(security_setup), GLOBAL_KEY_TRANSFER_METHOD
        )
        self._require_counter()
        self._submit(
            _Request(
                "action",
                invoke.invoke_id,
                ActionRequestNormal(desc, parameter, invoke).encode(),
                True,
                self.retries,
                new_keys=(
                    keys.get(KeyId.GLOBAL_UNICAST_ENCRYPTION, self._ek),
                    keys.get(KeyId.AUTHENTICATION, self._ak),
                ),
            )
        )
        return invoke.invoke_id

    def _clock(self, now: float | None) -> None:
        if now is not None:
            self._now = now

    def release(self) -> None:
        if self.state is not ClientState.ASSOCIATED:
            raise SessionError(f"release() in state {self.state.name}")
        self._move(ClientInput.RELEASE)
        self._submit(_Request("acse", None, RLRQ().encode(), False, self.retries))

    def apdus_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[ClientEvent]:
        out, self._events = self._events, []
        return out

    def next_deadline(self) -> float | None:
        return None if self._inflight is None else self._inflight.deadline

    def handle_timeout(self, now: float) -> None:
        self._now = now
        req = self._inflight
        if req is None or now < req.deadline:
            return
        if req.retries_left > 0:
            req.retries_left -= 1
            self.stats.retries += 1
            if not self._transmit(req):
                self._abandon(req)
                self._pump()
            return
        self._inflight = None
        self._events.append(RequestTimedOut(req.invoke_id))
        if req.kind in ("acse", "hls"):
            self._reset()
        self._pump()

    def receive(self, apdu: bytes, now: float) -> None:
        """Handle one APDU from the server; never raises on bad input."""
        self._now = now
        try:
            self._receive(bytes(apdu))
        except DecodeError:
            self.stats.malformed += 1

    # --- sending ---------------------------------------------------------------------------

    def _invoke(self) -> InvokeIdAndPriority:
        if self.state is not ClientState.ASSOCIATED:
            raise SessionError(f"request in state {self.state.name}: associate first")
        self._next_id = (self._next_id + 1) % _INVOKE_IDS
        return InvokeIdAndPriority(self._next_id)

    def _service(
        self, kind: str, plain: bytes, invoke: InvokeIdAndPriority, ciphered: bool | None
    ) -> int:
        cipher = self.ciphered if ciphered is None else ciphered
        if cipher and not self.ciphered:
            raise ValueError("ciphered request without keys")
        if cipher:
            self._require_counter()
        self._submit(_Request(kind, invoke.invoke_id, plain, cipher, self.retries))
        return invoke.invoke_id

    def _submit(self, req: _Request) -> None:
        self._queue.append(req)
        self._pump()

    def _require_counter(self) -> None:
        """Raise CounterExhausted now rather than queue a request that cannot be ciphered."""
        if self.counter.remaining == 0:
            raise CounterExhausted(
                f"send counter {self.counter.name!r} reached its last value "
                f"0x{self.counter.limit:X}: replace the key before sending again"
            )

    def _pump(self) -> None:
        while self._inflight is None and self._queue:
            req = self._inflight = self._queue.popleft()
            if not self._transmit(req):
                self._abandon(req)

    def _transmit(self, req: _Request) -> bool:
        """Send ``req`` (re-ciphered with a new counter); False if the counter is exhausted."""
        req.deadline = self._now + self.timeout
        if not req.ciphered:
            self._out.append(req.plain)
            return True
        try:
            self._out.append(self._protect(req.plain, _GLO_REQUEST[req.plain[0]]))
        except CounterExhausted:
            return False
        return True

    def _abandon(self, req: _Request) -> None:
        """End ``req``, which can no longer be ciphered: an event, never an exception."""
        self._inflight = None
        self._events.append(SendCounterExhausted(req.invoke_id))
        if req.kind in ("acse", "hls"):
            self._refuse("send counter exhausted: replace the key", None)

    def _switch_keys(self, ek: bytes, ak: bytes) -> None:
        """Put keys from a successful key transfer in force for everything sent next."""
        assert self._ek is not None
        if ek != self._ek:
            self.server_counters = counters_for_new_key(self.server_counters, self.system_title, ek)
        self._ek, self._ak = ek, ak

    def _protect(self, plain: bytes, service_tag: int, *, general: bool | None = None) -> bytes:
        assert self._ek is not None
        assert self._ak is not None
        ic = self.counter.next()
        return protect(
            plain,
            security_control=self.security_control,
            system_title=self.system_title,
            invocation_counter=ic,
            ek=self._ek,
            ak=self._ak,
            service_tag=None
            if (self.general_ciphering if general is None else general)
            else service_tag,
        )

    def _aarq(self) -> bytes:
        initiate = InitiateRequest(self.conformance, self.max_pdu_size)
        info: InitiateRequest | bytes = initiate
        if self.ciphered:
            # the AARQ always carries glo-initiate-request (Green Book 9.2.7 / 62056-5-3)
            info = self._protect(
                initiate.encode(), CipheringTag.GLO_INITIATE_REQUEST, general=False
            )
        mech: MechanismName | None = None
        secret: bytes | None = None
        if self.authentication is Authentication.LLS:
            mech, secret = MechanismName.LOW, self._password or b""
        elif self.authentication is Authentication.HLS_GMAC:
            self._ctos = self._challenge()
            mech, secret = MechanismName.HIGH_GMAC, self._ctos
        ciphered_ctx = self.ciphered
        return AARQ(
            application_context=ApplicationContextName.LOGICAL_NAME_CIPHERED
            if ciphered_ctx
            else ApplicationContextName.LOGICAL_NAME,
            user_information=info,
            calling_ap_title=self.system_title if ciphered_ctx or mech else None,
            mechanism_name=mech,
            calling_authentication_value=secret,
            sender_acse_requirements=True if mech is not None else None,
        ).encode()

    # --- receiving -------------------------------------------------------------------------

    def _move(self, event: ClientInput) -> None:
        self.state = CLIENT_TRANSITIONS.next(self.state, event)

    def _reset(self) -> None:
        self._move(ClientInput.RESET)
        self._queue.clear()
        self._inflight = None
        self.negotiated = None

    def _receive(self, apdu: bytes) -> None:
        if not apdu:
            raise DecodeError("association", 0, "empty APDU")
        if apdu[0] in _ACSE_TAGS:
            self._acse(decode_acse(apdu))
            return
        title: bytes | None = None
        counter: int | None = None
        if apdu[0] in _CIPHERED_IN:
            if self._ek is None or self._ak is None:
                self.stats.unexpected += 1
                return
            try:
                u = unprotect(
                    apdu,
                    ek=self._ek,
                    ak=self._ak,
                    counters=self.server_counters,
                    system_title=self.server_system_title,
                )
            except AuthError:
                self.stats.auth_failed += 1
                return
            apdu, title, counter = u.apdu, u.system_title, u.invocation_counter
        elif apdu[:1] == b"\x0f" and self.ciphered:
            self.stats.auth_failed += 1  # an unciphered push to a ciphering client
            return
        response = decode_apdu(apdu, strict=True)
        if isinstance(response, DataNotification):
            self._events.append(
                Pushed(response.body, title, counter, push_time(response.date_time))
            )
            return
        self._response(response)

    def _response(self, response: object) -> None:
        req = self._inflight
        if req is None:
            self.stats.unexpected += 1
            return
        if isinstance(response, ExceptionResponse):
            self._finish(
                ExceptionReceived(
                    req.invoke_id, int(response.state_error), int(response.service_error)
                )
            )
            if req.kind == "hls":
                self._refuse("server refused the HLS reply", None)
            return
        invoke = getattr(response, "invoke", None)
        if not isinstance(invoke, InvokeIdAndPriority) or invoke.invoke_id != req.invoke_id:
            self.stats.unexpected += 1
            return
        if req.kind == "hls" and isinstance(response, ActionResponseNormal):
            self._hls_answer(response)
        elif req.kind == "get" and isinstance(response, GetResponseNormal):
            self._finish(GetResult(invoke.invoke_id, response.result))
        elif req.kind == "get_list" and isinstance(response, GetResponseWithList):
            self._finish(GetListResult(invoke.invoke_id, response.results))
        elif req.kind in ("get", "get_list") and isinstance(response, GetResponseWithDatablock):
            self._block(req, response)
        elif req.kind == "set" and isinstance(response, SetResponseNormal):
            self._finish(SetResult(invoke.invoke_id, response.result))
        elif req.kind == "action" and isinstance(response, ActionResponseNormal):
            out = response.outcome
            if req.new_keys is not None and out.result == ActionResultCode.SUCCESS:
                self._switch_keys(*req.new_keys)  # before the next request goes out
            self._finish(ActionResult(invoke.invoke_id, out.result, out.return_parameters))
        else:
            self.stats.unexpected += 1

    def _finish(self, event: ClientEvent | None) -> None:
        if event is not None:
            self._events.append(event)
        self._inflight = None
        self._pump()

    def _block(self, req: _Request, response: GetResponseWithDatablock) -> None:
        assert req.invoke_id is not None
        if not isinstance(response.result, bytes):
            self._finish(failed_event(req.kind, req.invoke_id, response.result))
            return
        if response.block_number != req.next_block:
            self.stats.unexpected += 1
            return
        req.blocks += response.result
        if not response.last_block:
            req.next_block += 1
            req.plain = GetRequestNext(
                response.block_number, InvokeIdAndPriority(req.invoke_id)
            ).encode()
            req.retries_left = self.retries
            if not self._transmit(req):
                self._abandon(req)
                self._pump()
            return
        raw = bytes(req.blocks)
        try:
            event = assembled_event(req.kind, req.invoke_id, raw)
        except DecodeError:
            self.stats.malformed += 1
            event = failed_event(req.kind, req.invoke_id, DataAccessResult.OTHER_REASON)
        self._finish(event)

    def _hls_answer(self, response: ActionResponseNormal) -> None:
        out = response.outcome
        value = out.return_parameters
        title = self.server_system_title
        if (
            out.result != ActionResultCode.SUCCESS
            or not isinstance(value, Data)
            or not isinstance(value.value, bytes)
            or title is None
            or self._ek is None
            or self._ak is None
        ):
            self._finish(None)
            self._refuse("server rejected f(StoC)", int(out.result))
            return
        try:
            # freshness comes from our random CtoS (the IC inside is not recorded)
            verify_gmac_auth_value(
                value.value, self._ctos, system_title=title, ek=self._ek, ak=self._ak
            )
        except AuthError:
            self.stats.auth_failed += 1
            self._finish(None)
            self._refuse("server's f(CtoS) does not verify", None)
            return
        self._move(ClientInput.VERIFIED)
        self._finish(Associated(self.negotiated or Conformance(0), self._server_max, title))

    def _refuse(self, reason: str, diagnostic: int | None) -> None:
        self._reset()
        self._events.append(AssociationRefused(reason, diagnostic))

    # --- ACSE ------------------------------------------------------------------------------

    def _acse(self, apdu: object) -> None:
        req = self._inflight
        if isinstance(apdu, RLRE) and self.state is ClientState.RELEASING:
            self._reset()
            self._events.append(Released())
            return
        if (
            not isinstance(apdu, AARE)
            or self.state is not ClientState.ASSOCIATING
            or req is None
            or req.kind != "acse"
        ):
            self.stats.unexpected += 1
            return
        self._inflight = None
        if apdu.responding_ap_title is not None and len(apdu.responding_ap_title) == 8:
            self.server_system_title = apdu.responding_ap_title
        if apdu.result != AssociationResult.ACCEPTED:
            self._refuse(rejection_text(apdu), int(apdu.diagnostic))
            return
        initiate = self._initiate_response(apdu.user_information)
        if initiate is None:
            self._refuse("no usable InitiateResponse", int(apdu.diagnostic))
            return
        self.negotiated = Conformance(initiate.conformance)
        self._server_max = initiate.server_max_receive_pdu_size
        if self.authentication is not Authentication.HLS_GMAC:
            self._move(ClientInput.ACCEPTED)
            self._events.append(
                Associated(self.negotiated, self._server_max, self.server_system_title)
            )
            self._pump()
            return
        stoc = apdu.responding_authentication_value
        if (
            apdu.diagnostic != AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED
            or not stoc
            or self.server_system_title is None
        ):
            self._refuse("HLS: no server challenge in the AARE", int(apdu.diagnostic))
            return
        assert self._ek is not None
        assert self._ak is not None
        try:
            ic = self.counter.next()
        except CounterExhausted:
            self._events.append(SendCounterExhausted(None))
            self._refuse("send counter exhausted: replace the key", None)
            return
        self._move(ClientInput.CHALLENGED)
        self._next_id = (self._next_id + 1) % _INVOKE_IDS
        invoke = InvokeIdAndPriority(self._next_id)
        plain = hls_reply_request(
            stoc,
            invoke,
            system_title=self.system_title,
            invocation_counter=ic,
            ek=self._ek,
            ak=self._ak,
        )
        self._queue.appendleft(_Request("hls", invoke.invoke_id, plain, True, self.retries))
        self._pump()

    def _initiate_response(self, info: object) -> InitiateResponse | None:
        if isinstance(info, InitiateResponse):
            return info
        if (
            isinstance(info, ConfirmedServiceError)
            or not isinstance(info, bytes)
            or not info
            or info[0] != CipheringTag.GLO_INITIATE_RESPONSE
            or self._ek is None
            or self._ak is None
        ):
            return None
        try:
            plain = unprotect(
                info,
                ek=self._ek,
                ak=self._ak,
                counters=self.server_counters,
                system_title=self.server_system_title,
            ).apdu
        except AuthError:
            self.stats.auth_failed += 1
            return None
        cur = Cursor(plain, "association")
        if cur.pull_uint8("xDLMS tag") != INITIATE_RESPONSE_TAG:
            return None
        response = pull_initiate_response(cur)
        cur.expect_end("InitiateResponse")
        return response

    _server_max: int = 0

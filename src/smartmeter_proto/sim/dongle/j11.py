"""Simulated ROHM J11 modules (BP35C0-J11, BP35C2-J11-T01, RATOC RS-WSUHA-J11).

Frames are split by :class:`~smartmeter_proto.wisun.j11.FrameParser`, read and
written as the typed messages of :mod:`~smartmeter_proto.wisun.j11.messages`.
The B-route sequence follows ROHM application note 63AN028E (frames F1..F22 in
tests/vectors/j11/frames.json): reset -> 0x6019, initial settings, PANA
authentication info, active scan (0x4051 per channel, then 0x2051), start
Route-B (0x2053 with channel, PAN ID, MAC, RSSI), open UDP 3610, start PANA
(0x2056, later 0x6028), transmit data (0x2008) and data reception (0x6018).
Result codes: 63TR008E Table 34 as cited by broute-j11. Delays no source gives
are named constants marked synthetic.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, ClassVar, Final

from ...echonet.frame import ECHONET_PORT
from ...echonet.node import Node
from ...errors import DecodeError
from ...wisun.j11 import (
    MAX_CHANNEL,
    MAX_UDP_PAYLOAD,
    MIN_CHANNEL,
    BlockState,
    Command,
    ConnectionState,
    FrameParser,
    GlobalState,
    J11Garbled,
    OperationMode,
    PanaResult,
    Result,
    TxPower,
    UniqueCode,
    encode,
    link_local_from_mac,
    mask_channels,
    response_code,
    scan_duration_ms,
)
from ...wisun.j11.messages import (
    ActiveScan,
    Beacon,
    CloseUdpPort,
    ConnectionStateNotification,
    DataReceivedNotification,
    GetInitialSettings,
    GetStatus,
    GetVersion,
    HardwareReset,
    InitialSettingsResponse,
    J11Message,
    ModuleError,
    OpenUdpPort,
    PanaResultNotification,
    ReauthPana,
    ResultResponse,
    ScanResultNotification,
    SetInitialSettings,
    SetRouteBAuth,
    StartPana,
    StartRouteB,
    StartRouteBResponse,
    StartupNotification,
    StatusResponse,
    TerminatePana,
    TerminateRouteB,
    TransmitData,
    TransmitDataResponse,
    VersionResponse,
    decode_message,
    encode_message,
)
from ..radio import CaptureSink
from .emulator import DongleEmulator, Matcher, RadioIdentity

__all__ = ["J11Dongle"]

#: An injected session expiry that finds no session up is retried this often (s).
_EXPIRY_RETRY_S: Final = 1.0

#: Get Version answer of a real module in Tosainu/bp35c0-j11-stuff response.rs tests:
#: firmware ID 0x0400 (HAN + B-route dual stack), version 1.3, revision 0x0000158A.
_FIRMWARE_ID, _MAJOR, _MINOR, _REVISION = 0x0400, 1, 3, 0x0000158A
#: ROHM's IEEE OUI 00-1D-12 (the BP35A1/C2 modules' MACs start 001D129x too).
_MAC_PREFIX: Final = bytes.fromhex("001D12")
#: Data reception: 0x00 unicast, 0x01 multicast; 0x02 encrypted (broute-j11).
_UNICAST, _MULTICAST, _ENCRYPTED = 0x00, 0x01, 0x02
#: 63AN028E F21: the 0x2008 answer carries, after result and status, the first five bytes of
#: the payload sent (meaning unknown; reproduced as the vendor's sample shows it).
_TX_ECHO_BYTES: Final = 5
#: Start-up after reset, Route-B association, its failure, and PANA: synthetic durations.
_RESET_S: Final = 0.1
_ROUTE_B_S: Final = 0.5
_ROUTE_B_FAIL_S: Final = 5.0
#: How long the module waits for the meter during PANA before reporting no response.
_PANA_TIMEOUT_S: Final = 38.0
_DEFAULT_SETTINGS: Final = SetInitialSettings(channel=4)


class J11Dongle(DongleEmulator):
    """A J11 module; the meter answers an active scan of ``duration`` >= ``min_scan_duration``."""

    def __init__(
        self,
        model: str,
        *,
        rbid: str,
        password: str,
        node: Node | None,
        now: float,
        seed: int,
        radio: RadioIdentity | None = None,
        capture: CaptureSink | None = None,
        min_scan_duration: int = 4,
    ) -> None:
        super().__init__(
            model,
            rbid=rbid,
            password=password,
            node=node,
            now=now,
            seed=seed,
            radio=radio,
            capture=capture,
        )
        self._min_scan = min_scan_duration
        self._parser = FrameParser()
        self._reset()

    def _own_mac(self, rng: random.Random) -> bytes:
        return _MAC_PREFIX + rng.randbytes(8 - len(_MAC_PREFIX))

    @property
    def channel(self) -> int:
        return self.radio.j11_channel

    @property
    def session_established(self) -> bool:
        return self._pana_up

    def _reset(self) -> None:
        self._settings: SetInitialSettings | None = None
        self._auth: SetRouteBAuth | None = None  # holds secrets; its repr is masked
        self._route_b = BlockState.INACTIVE
        self._pana_up = False
        self._ports: set[int] = set()
        self._busy: str | None = None
        self._fresh = True
        self.pana.abort()

    # ------------------------------------------------------------------ output
    def _send(self, message: J11Message) -> None:
        self._emit(encode(encode_message(message)))

    def _result(self, request: int, result: int) -> None:
        self._send(ResultResponse(response_code(request), result))

    def _matcher(self, match: Any) -> Matcher:
        code = int(match).to_bytes(2, "big")
        return lambda unit: unit[4:6] == code

    def _accepts_meter_data(self) -> bool:
        return self._pana_up and ECHONET_PORT in self._ports

    def _from_meter(self, payload: bytes, multicast: bool, now: float) -> None:
        self._send(
            DataReceivedNotification(
                source=link_local_from_mac(self.meter_mac),
                source_port=ECHONET_PORT,
                destination_port=ECHONET_PORT,
                source_pan_id=self.pan_id,
                address_type=_MULTICAST if multicast else _UNICAST,
                encryption=_ENCRYPTED,
                rssi=self.radio.rssi_dbm,
                payload=payload,
            )
        )

    # ------------------------------------------------------------------ input
    def _on_host_bytes(self, data: bytes, now: float) -> None:
        for item in self._parser.feed(data):
            if isinstance(item, J11Garbled):
                self._garbled(item)
                continue
            if item.unique_code is not UniqueCode.REQUEST:
                self._send(ModuleError(Command.INVALID_COMMAND))
                continue
            try:
                message = decode_message(item)
            except DecodeError:
                self._result(item.command, Result.BAD_PARAMETER_LENGTH)
                continue
            handler = self._HANDLERS.get(type(message))
            if handler is None:
                self._send(ModuleError(Command.INVALID_COMMAND))
                continue
            failed, result = self.faults.take_failure()
            if failed:
                self._result(item.command, Result.BUSY if result is None else result)
                continue
            handler(self, message, now)

    def _garbled(self, junk: J11Garbled) -> None:
        """A header checksum error gives 0x2FFF; a data checksum error the 0xF1 result."""
        if junk.reason.startswith("header checksum"):
            self._send(ModuleError(Command.HEADER_CHECKSUM_ERROR))
        elif junk.reason.startswith("data checksum") and len(junk.data) >= 6:
            self._result(int.from_bytes(junk.data[4:6], "big"), Result.DATA_CHECKSUM_ERROR)

    # ------------------------------------------------------------------ commands
    def _hardware_reset(self, msg: HardwareReset, now: float) -> None:
        self._cancel("scan", "route_b", "pana", "meter", "expiry", "reset")
        self._reset()
        self._at(now + _RESET_S, lambda t: self._send(StartupNotification()), "reset")

    def _get_version(self, msg: GetVersion, now: float) -> None:
        self._send(
            VersionResponse(
                firmware_id=_FIRMWARE_ID, major=_MAJOR, minor=_MINOR, revision=_REVISION
            )
        )

    def _get_status(self, msg: GetStatus, now: float) -> None:
        active = GlobalState.ACTIVE if self._settings is not None else GlobalState.INACTIVE
        self._send(
            StatusResponse(global_state=active, route_b=self._route_b, han=BlockState.INACTIVE)
        )

    def _get_initial_settings(self, msg: GetInitialSettings, now: float) -> None:
        s = self._settings or _DEFAULT_SETTINGS
        self._send(
            InitialSettingsResponse(
                mode=s.mode, han_sleep=s.han_sleep, channel=s.channel, tx_power=s.tx_power
            )
        )

    def _set_initial_settings(self, msg: SetInitialSettings, now: float) -> None:
        valid = isinstance(msg.mode, OperationMode) and isinstance(msg.tx_power, TxPower)
        if not valid or not MIN_CHANNEL <= msg.channel <= MAX_CHANNEL:
            self._result(msg.command, Result.INVALID_PARAMETER)
        elif self._route_b is not BlockState.INACTIVE:
            self._result(msg.command, Result.ROUTE_B_RUNNING)
        else:
            self._settings = msg
            self._result(msg.command, Result.SUCCESS)

    def _set_route_b_auth(self, msg: SetRouteBAuth, now: float) -> None:
        self._auth = msg
        self._result(msg.command, Result.SUCCESS)

    def _active_scan(self, msg: ActiveScan, now: float) -> None:
        try:
            dwell = scan_duration_ms(msg.duration) / 1000
            channels = mask_channels(msg.channel_mask)
        except ValueError:
            self._result(msg.command, Result.INVALID_PARAMETER)
            return
        if self._busy is not None or not channels:
            self._result(msg.command, Result.BUSY if channels else Result.INVALID_PARAMETER)
            return
        self._busy = "scan"
        pairing = self._credentials.pairing_id.encode("ascii")
        heard = msg.duration >= self._min_scan and msg.pairing_id in (None, pairing)
        for k, channel in enumerate(channels):
            beacon = heard and channel == self.channel
            self._at(now + dwell * (k + 1), self._scan_result(channel, beacon), "scan")
        self._at(now + dwell * len(channels), self._scan_done, "scan")

    def _scan_result(self, channel: int, beacon: bool) -> Callable[[float], None]:
        def report(now: float) -> None:
            if beacon and not self.meter_silent(now):
                found = Beacon(mac=self.meter_mac, pan_id=self.pan_id, rssi=self.radio.rssi_dbm)
                self._send(ScanResultNotification(channel=channel, beacons=(found,)))
            else:
                self._send(ScanResultNotification(channel=channel))

        return report

    def _scan_done(self, now: float) -> None:
        self._busy = None
        self._result(Command.ACTIVE_SCAN, Result.SUCCESS)

    def _start_route_b(self, msg: StartRouteB, now: float) -> None:
        settings = self._settings
        if self._busy is not None:
            self._result(msg.command, Result.BUSY)
        elif self._route_b is not BlockState.INACTIVE:
            self._result(msg.command, Result.ROUTE_B_RUNNING)
        elif settings is None or settings.mode != OperationMode.DUAL:
            self._result(msg.command, Result.WRONG_OPERATION_MODE)
        elif self._auth is None:
            self._result(msg.command, Result.PANA_SETTINGS_MISSING)
        else:
            self._busy = "route_b"
            found = settings.channel == self.channel and (
                self._auth.route_b_id[-8:] == self._credentials.pairing_id
            )
            delay = _ROUTE_B_S if found else _ROUTE_B_FAIL_S
            self._at(now + delay, lambda t: self._route_b_done(found, t), "route_b")

    def _route_b_done(self, found: bool, now: float) -> None:
        self._busy = None
        if not found or self.meter_silent(now):
            self._result(Command.START_ROUTE_B, Result.MAC_CONNECTION_FAILED)
            return
        self._route_b = BlockState.ACTIVE
        self._send(
            StartRouteBResponse(
                channel=self.channel,
                pan_id=self.pan_id,
                mac=self.meter_mac,
                rssi=self.radio.rssi_dbm,
            )
        )

    def _open_udp_port(self, msg: OpenUdpPort, now: float) -> None:
        if msg.port in self._ports:
            self._result(msg.command, Result.PORT_ALREADY_OPEN)
        else:
            self._ports.add(msg.port)
            self._result(msg.command, Result.SUCCESS)

    def _close_udp_port(self, msg: CloseUdpPort, now: float) -> None:
        if msg.port not in self._ports:
            self._result(msg.command, Result.PORT_NOT_OPEN)
        else:
            self._ports.discard(msg.port)
            self._result(msg.command, Result.SUCCESS)

    def _start_pana(self, msg: StartPana, now: float) -> None:
        if self._route_b is BlockState.INACTIVE:
            self._result(msg.command, Result.NOT_STARTED)
        elif self._auth is None:
            self._result(msg.command, Result.PANA_SETTINGS_MISSING)
        elif self._busy is not None or self._pana_up:
            self._result(msg.command, Result.PANA_SEQUENCE_RUNNING)
        else:
            self._result(msg.command, Result.SUCCESS)
            self._authenticate(now, fresh=True)

    def _reauth_pana(self, msg: ReauthPana, now: float) -> None:
        if not self._pana_up or self._busy is not None:
            self._result(msg.command, Result.NOT_STARTED)
        else:
            self._result(msg.command, Result.SUCCESS)
            self._authenticate(now, fresh=False)

    def _authenticate(self, now: float, *, fresh: bool) -> None:
        self._busy = "pana"
        self._pana_up = False
        self._route_b = BlockState.AUTHENTICATING
        self._cancel("pana-deadline")
        self._at(now + _PANA_TIMEOUT_S, self._no_answer, "pana-deadline")
        if fresh or not self.pana.reauthenticate(now):
            auth = self._auth
            refuse = fresh and self.faults.take_join_failure()
            rbid, password = (auth.route_b_id, auth.password) if auth else ("", "")
            self.pana.join(rbid, password, now, refuse=refuse)
        self._fresh = fresh

    def _no_answer(self, now: float) -> None:
        self.pana.abort()
        self._pana_done(PanaResult.NO_RESPONSE, now)

    def _pana_done(self, result: PanaResult, now: float) -> None:
        self._cancel("pana-deadline")
        self._busy = None
        self._route_b = BlockState.ACTIVE
        self._pana_up = result is PanaResult.SUCCESS
        self._send(PanaResultNotification(result=result, mac=self.meter_mac))
        if self._pana_up and self._fresh:
            # 63AN028E F19: the meter speaks first right after authentication.
            self.node.start(now)
            self._collect_node(now, _ROUTE_B_S)

    # PANA as the host sees it: only the outcome (J11 shows no PANA datagrams).
    def pana_established(self, now: float, *, fresh: bool) -> None:
        self._pana_done(PanaResult.SUCCESS, now)

    def pana_failed(self, reason: str, now: float) -> None:
        unanswered = reason == "the meter does not answer"
        self._pana_done(PanaResult.NO_RESPONSE if unanswered else PanaResult.FAILURE, now)

    def pana_reauthenticating(self, now: float) -> None:
        if self._busy == "pana":
            return  # asked for by the host (ReauthPana) or the expiry below: already shown
        self._send(
            ConnectionStateNotification(
                state=ConnectionState.PANA_DISCONNECTED,
                mac=self.meter_mac,
                rssi=self.radio.rssi_dbm,
            )
        )
        self._busy = "pana"
        self._pana_up = False
        self._route_b = BlockState.AUTHENTICATING
        self._fresh = False

    def _on_session_expiry(self, now: float) -> None:
        if not self._pana_up or self._busy is not None:
            # No session yet, or one being set up: the lifetime runs out once it is up.
            self._at(now + _EXPIRY_RETRY_S, self._on_session_expiry, "expiry")
            return
        self.pana_reauthenticating(now)
        self._authenticate(now, fresh=False)

    def _terminate_pana(self, msg: TerminatePana, now: float) -> None:
        if not self._pana_up:
            self._result(msg.command, Result.NOT_STARTED)
        else:
            self._pana_up = False
            self.pana.terminate(now)  # PTR goes out; the module answers at once
            self._result(msg.command, Result.SUCCESS)

    def _terminate_route_b(self, msg: TerminateRouteB, now: float) -> None:
        if self._route_b is BlockState.INACTIVE:
            self._result(msg.command, Result.NOT_STARTED)
        else:
            self._cancel("pana", "pana-deadline", "meter", "expiry")
            self.pana.abort()
            self._busy = None
            self._pana_up = False
            self._route_b = BlockState.INACTIVE
            self._result(msg.command, Result.SUCCESS)

    def _transmit_data(self, msg: TransmitData, now: float) -> None:
        if len(msg.payload) > MAX_UDP_PAYLOAD or not msg.payload:
            self._result(msg.command, Result.INVALID_PARAMETER)
        elif msg.source_port not in self._ports:
            self._result(msg.command, Result.PORT_NOT_OPEN)
        elif self._route_b is BlockState.AUTHENTICATING:
            # Route-B is up but PANA is (re-)authenticating (63TR008E Table 34, 0x35).
            self._result(msg.command, Result.ROUTE_B_AUTHENTICATING)
        elif not self._pana_up:
            self._result(msg.command, Result.NOT_STARTED)
        else:
            echo = msg.payload[:_TX_ECHO_BYTES]
            self._send(TransmitDataResponse(result=Result.SUCCESS, status=0x00, trailing=echo))
            meter = link_local_from_mac(self.meter_mac)
            if msg.destination == meter and msg.destination_port == ECHONET_PORT:
                self._to_meter(msg.payload, now)

    _HANDLERS: ClassVar[dict[type, Callable[[J11Dongle, Any, float], None]]] = {
        HardwareReset: _hardware_reset,
        GetVersion: _get_version,
        GetStatus: _get_status,
        GetInitialSettings: _get_initial_settings,
        SetInitialSettings: _set_initial_settings,
        SetRouteBAuth: _set_route_b_auth,
        ActiveScan: _active_scan,
        StartRouteB: _start_route_b,
        OpenUdpPort: _open_udp_port,
        CloseUdpPort: _close_udp_port,
        StartPana: _start_pana,
        ReauthPana: _reauth_pana,
        TerminatePana: _terminate_pana,
        TerminateRouteB: _terminate_route_b,
        TransmitData: _transmit_data,
    }

"""PANA (RFC 5191) carrying EAP-PSK, as the B-route uses it.

:mod:`.message` is the message codec, :mod:`.endpoint` the retransmission and sequence
rules, :mod:`.session` the client and server sessions, :mod:`.trace` a readable account
of an exchange.
"""

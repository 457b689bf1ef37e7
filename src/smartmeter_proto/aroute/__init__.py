"""A-route: a DLMS/COSEM-style stack (A-XDR, xDLMS APDUs, security suite 0, framing, COSEM)."""

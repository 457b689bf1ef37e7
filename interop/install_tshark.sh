#!/usr/bin/env bash
# Install tshark from Debian's packages when it is missing (used by interop/pcap_tshark.py
# and by the tshark checks in the test suite). Needs root or sudo; non-interactive.
set -euo pipefail
command -v tshark >/dev/null && exit 0
SUDO=""
[[ "$(id -u)" -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q tshark >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q tshark >/dev/null; }
tshark --version | head -1

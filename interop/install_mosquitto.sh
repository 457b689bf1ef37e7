#!/usr/bin/env bash
# Install the mosquitto MQTT broker from Debian's packages when it is missing (used by the
# MQTT publisher tests in tests/hems/, which start their own broker on a loopback port).
# Needs root or sudo; non-interactive. The packaged service is not used: it is stopped and
# disabled so that it holds no port.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
command -v mosquitto >/dev/null && exit 0
SUDO=""
[[ "$(id -u)" -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q mosquitto >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q mosquitto >/dev/null; }
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
mosquitto -h 2>/dev/null | head -1 || true

#!/usr/bin/env bash
# Unpacks systemd-stub 257 from Debian 13's systemd-boot-efi into DEST
# (systemd-stub.sh) and prints its path.
set -euo pipefail
exec "$(dirname "$0")/systemd-stub.sh" trixie "${1:?usage: systemd-stub-257.sh DEST}"

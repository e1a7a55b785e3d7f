#!/usr/bin/env bash
# Unpacks systemd-stub 254 from Debian 12's bookworm-backports
# systemd-boot-efi into DEST (systemd-stub.sh) and prints its path.
set -euo pipefail
exec "$(dirname "$0")/systemd-stub.sh" bookworm-backports "${1:?usage: systemd-stub-254.sh DEST}"

#!/usr/bin/env bash
# Unpacks systemd-stub from the systemd-boot-efi package of Debian suite
# SUITE into DEST without installing it (Debian 12, where the suite runs,
# ships stub 252), and prints the stub's path. The package comes from the
# Debian mirror this machine's own apt sources name, through a private apt
# configuration that leaves the system's lists and status alone.
set -euo pipefail
suite=${1:?usage: systemd-stub.sh SUITE DEST}
dest=${2:?usage: systemd-stub.sh SUITE DEST}
# apt resolves relative paths in its configuration under /etc/apt.
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
stub=$dest/linuxx64.efi.stub
if [ -f "$stub" ]; then echo "$stub"; exit 0; fi
mkdir -p "$dest"/{sources,lists/partial,archives/partial,debs,root}
touch "$dest/status"
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null ||
      awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$uri" "$suite" > "$dest/sources/$suite.sources"
apt=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$dest/sources" -o Dir::State::Lists="$dest/lists"
     -o Dir::Cache::Archives="$dest/archives" -o Dir::State::Status="$dest/status" -o Debug::NoLocking=1)
apt-get "${apt[@]}" update -qq
(cd "$dest/debs" && apt-get "${apt[@]}" download systemd-boot-efi >/dev/null 2>&1)
dpkg-deb -x "$dest"/debs/systemd-boot-efi_*.deb "$dest/root"
cp "$dest/root/usr/lib/systemd/boot/efi/linuxx64.efi.stub" "$stub"
echo "$stub"

#!/usr/bin/env bash
# tpm2_eventlog from tpm2-tools 5.7 (Debian 13), for the event-log replay
# tests: Debian 12's 5.4 misreplays EV_NO_ACTION events and the
# StartupLocality event, 5.7 replays them correctly.
#
# Nothing on the system changes. The package source is this machine's own
# Debian archive (read from its apt configuration) with the suite set to
# trixie; apt runs with a private configuration rooted in DEST, downloads
# tpm2-tools and everything it depends on, and dpkg -x unpacks them into
# DEST/root. DEST/tpm2_eventlog runs the binary through trixie's own dynamic
# loader and libraries.
#
# Usage: tpm2-tools-5.7.sh DEST      (prints DEST/tpm2_eventlog when done)
set -euo pipefail
dest=${1:?usage: tpm2-tools-5.7.sh DEST}
suite=trixie
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -x "$dest/tpm2_eventlog" ] && "$dest/tpm2_eventlog" --version 2>/dev/null | grep -q 'version="5\.7'; then
  echo "$dest/tpm2_eventlog"
  exit 0
fi

# The machine's Debian archive: the first "deb" source of its own release,
# from deb822 files or one-line lists.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}")
uri= keyring=
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  read -r uri keyring < <(awk -v want="$codename" '
    function flush() { if (deb && suite_ok && uri != "") { print uri, key; found = 1; exit } deb = suite_ok = 0; uri = key = "" }
    /^[[:space:]]*$/ { flush(); next }
    /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want) suite_ok = 1 }
    /^Signed-By:/ { key = $2 }
    END { if (!found) flush() }' "$f") || true
  [ -n "$uri" ] && break
done
if [ -z "$uri" ]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk -v want="$codename" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == want) { print $i; exit } }' "$f")
    [ -n "$uri" ] && break
  done
fi
[ -n "$uri" ] || { echo "no Debian source for $codename in the apt configuration" >&2; exit 1; }
keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}

apt_dir=$dest/apt
mkdir -p "$apt_dir"/{sources,lists/partial,archives/partial,debs} "$dest/root"
: > "$apt_dir/status"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$uri" "$suite" "$keyring" \
  > "$apt_dir/sources/$suite.sources"
apt=(apt-get -q
  -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt_dir/sources"
  -o Dir::State::Lists="$apt_dir/lists" -o Dir::State::Status="$apt_dir/status"
  -o Dir::Cache::Archives="$apt_dir/archives" -o Dir::Cache="$apt_dir" -o Debug::NoLocking=1)
# As root, apt hands downloads to its _apt user, which cannot write into DEST.
[ "$(id -u)" != 0 ] || apt+=(-o APT::Sandbox::User=root)
echo "tpm2-tools $suite: apt-get update (private configuration in $apt_dir)" >&2
"${apt[@]}" update >/dev/null

# tpm2-tools and its run-time dependencies, as trixie resolves them.
cache=(apt-cache
  -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt_dir/sources"
  -o Dir::State::Lists="$apt_dir/lists" -o Dir::State::Status="$apt_dir/status" -o Dir::Cache="$apt_dir")
mapfile -t packages < <("${cache[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances --no-pre-depends tpm2-tools |
  awk '/^[a-z0-9]/ { print $1 }' | sort -u)
echo "tpm2-tools $suite: apt-get download ${#packages[@]} packages" >&2
(cd "$apt_dir/debs" && "${apt[@]}" download "${packages[@]}" >/dev/null)
for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dest/root"; done

lib=$dest/root/usr/lib/x86_64-linux-gnu
printf '#!/bin/sh\nexec %s/ld-linux-x86-64.so.2 --library-path %s %s "$@"\n' \
  "$lib" "$lib" "$dest/root/usr/bin/tpm2_eventlog" > "$dest/tpm2_eventlog"
chmod +x "$dest/tpm2_eventlog"
"$dest/tpm2_eventlog" --version | grep -q 'version="5\.7' ||
  { echo "$dest/tpm2_eventlog is not version 5.7" >&2; exit 1; }
echo "$dest/tpm2_eventlog"

#!/bin/sh
# Install the Debian packages faultline needs to build, test and benchmark.
# Idempotent: does nothing when everything is already there.
set -eu

# python3, sqlite3: the preload tests run real programs under the shim
# (gcc, gzip and sort are the others).
# libjemalloc-dev: its PIC archive is linked into the shim (binutils'
# objcopy renames its mmap calls; binutils comes with gcc).
# libsqlite3-dev: faultlined's database; libdw-dev, libelf-dev: its
# symbolizer (elfutils); libunwind-dev: the shim's stack walker; clang:
# the wire decoder's libFuzzer target in the slow tier.  libncurses-dev:
# faultline top; tmux: its tests drive it in a tmux pane.  nodejs: a runtime
# that reserves its heap first and commits it piece by piece.
PKGS="gcc make binutils pkg-config liblz4-dev libzstd-dev libcriterion-dev libjemalloc-dev python3 sqlite3
libsqlite3-dev libdw-dev libelf-dev libunwind-dev clang libncurses-dev tmux nodejs"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: need root to install packages:$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
else
	echo "setup: all packages present"
fi

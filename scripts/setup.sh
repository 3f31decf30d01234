#!/bin/sh
# setup.sh - install what libshmar needs on Debian 12 (apt-get, only what is
# missing), then configure and build it in build/.  Safe to run again.
set -eu
cd "$(dirname "$0")/.."

need="build-essential autoconf automake libtool autoconf-archive pkg-config
      liburing-dev libcap-ng-dev libcmocka-dev man-db groff-base
      openmpi-bin libopenmpi-dev
      python3 python3-numpy python3-pytest python3-torch dh-python"
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "setup: installing$missing"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	./autogen.sh
fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --enable-werror ${SHMAR_CONFIGURE_FLAGS:-}
make -j"$(nproc)"

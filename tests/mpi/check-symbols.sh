#!/bin/sh
# SPDX-License-Identifier: MIT
# libshmar-mpi exports exactly the symbols of mpi/libshmar-mpi.map, each in
# its version node (tests/check-symbols.sh does the same for libshmar).
# Exit 77 when libshmar-mpi is not built (configure found no MPI).
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}" "${NM:=nm}"
if [ ! -e "$top_builddir/mpi/libshmar-mpi.la" ]; then
	echo "SKIP: libshmar-mpi is not built"
	exit 77
fi
lib=$(ls "$top_builddir"/mpi/.libs/libshmar-mpi.so.[0-9]* 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "libshmar-mpi.so not built"; exit 99; }
map="$top_srcdir/mpi/libshmar-mpi.map"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed -n 's/^[[:space:]]*\(shmar_[a-z0-9_]*\);.*/\1/p' "$map" | LC_ALL=C sort > "$tmp/map"
$NM -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
	grep -v '^LIBSHMAR_' | sed 's/@.*//' | LC_ALL=C sort > "$tmp/exported"
if ! diff -u "$tmp/map" "$tmp/exported"; then
	echo "exports differ from $map (- only in the map, + only exported)"
	exit 1
fi
if $NM -D --defined-only --with-symbol-versions "$lib" | grep ' shmar_' | grep -qv '@LIBSHMAR_MPI_'; then
	echo "unversioned export"
	exit 1
fi
# every function of the header is exported (and so documented: check-manpages.sh)
grep -v '^[ /]\*' "$top_srcdir/mpi/shmar-mpi.h" |
	sed -n 's/.*[ *]\(shmar_mpi_[a-z_]*\)(.*/\1/p' | LC_ALL=C sort > "$tmp/header"
if ! diff -u "$tmp/header" "$tmp/map"; then
	echo "mpi/shmar-mpi.h and $map differ"
	exit 1
fi
echo "$(wc -l < "$tmp/map") symbols, exports == map == header"

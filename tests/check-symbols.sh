#!/bin/sh
# The library exports exactly the symbols of its version script, each in its
# version node: no more (hidden visibility works), no fewer (every API is marked).
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}" "${NM:=nm}"
lib=$(ls "$top_builddir"/lib/.libs/libshmar.so.[0-9]* 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "libshmar.so not built"; exit 99; }
map="$top_srcdir/lib/libshmar.map"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed -n 's/^[[:space:]]*\(shmar_[a-z0-9_]*\);.*/\1/p' "$map" | LC_ALL=C sort > "$tmp/map"
$NM -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
	grep -v '^LIBSHMAR_' | sed 's/@.*//' | LC_ALL=C sort > "$tmp/exported"
if ! diff -u "$tmp/map" "$tmp/exported"; then
	echo "exports differ from $map (- only in the map, + only exported)"
	exit 1
fi
# every export carries a version node
if $NM -D --defined-only --with-symbol-versions "$lib" 2>/dev/null | grep ' shmar_' | grep -qv '@LIBSHMAR_'; then
	echo "unversioned export"; exit 1
fi
echo "$(wc -l < "$tmp/map") symbols, exports == map"

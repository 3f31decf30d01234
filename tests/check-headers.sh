#!/bin/sh
# The public header compiles alone as strict C99, C11 and as C++.
set -eu
: "${top_builddir:=.}" "${CC:=cc}" "${CXX:=c++}"
hdr="$top_builddir/lib/shmar.h"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '#include "shmar.h"\nint main(void) { struct shmar_config c; shmar_config_init(&c); return (int)c.size == 0; }\n' > "$tmp/t.c"
for std in c99 c11; do
	$CC -std=$std -pedantic -Wall -Wextra -Werror -I"$top_builddir/lib" -c "$tmp/t.c" -o "$tmp/t.o"
done
if command -v "${CXX%% *}" >/dev/null 2>&1; then
	cp "$tmp/t.c" "$tmp/t.cc"
	$CXX -std=c++11 -pedantic -Wall -Wextra -Werror -I"$top_builddir/lib" -c "$tmp/t.cc" -o "$tmp/t.o"
else
	echo "no C++ compiler: C++ check skipped"
fi
echo "$hdr compiles as C99, C11 and C++"

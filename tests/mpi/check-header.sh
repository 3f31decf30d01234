#!/bin/sh
# SPDX-License-Identifier: MIT
# <shmar-mpi.h> compiles alone as strict C99, C11 and as C++ (with the MPI
# flags configure found).  Exit 77 when libshmar-mpi is not built.
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}" "${CC:=cc}" "${CXX:=c++}" "${MPI_CFLAGS:=}"
if [ ! -e "$top_builddir/mpi/libshmar-mpi.la" ]; then
	echo "SKIP: libshmar-mpi is not built"
	exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/t.c" <<'EOC'
#include "shmar-mpi.h"
int main(void)
{
	struct shmar_mpi_comm *c = 0;
	return shmar_mpi_comm_destroy(c) + (shmar_mpi_comm_last_error(c) == 0);
}
EOC
inc="-I$top_srcdir/mpi -I$top_builddir/lib $MPI_CFLAGS"
for std in c99 c11; do
	$CC -std=$std -pedantic -Wall -Wextra -Werror $inc -c "$tmp/t.c" -o "$tmp/t.o"
done
if command -v "${CXX%% *}" >/dev/null 2>&1; then
	cp "$tmp/t.c" "$tmp/t.cc"
	# MPI's own C++ bindings are not this header's business
	$CXX -std=c++11 -pedantic -Wall -Wextra -Werror -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX \
		$inc -c "$tmp/t.cc" -o "$tmp/t.o"
else
	echo "no C++ compiler: C++ check skipped"
fi
echo "shmar-mpi.h compiles as C99, C11 and C++"

#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-examples.sh - every C block in the EXAMPLES section of every
# section-3 and section-7 page compiles as printed.
#
# A block (.EX to .EE) is, after the roff escapes are undone:
#  * a shell session when its first line starts with "$ ": not compiled;
#  * a whole program when it defines main(): compiled and linked against the
#    built library, and it must be, line for line, the file of examples/c/
#    that its first line names ("/* NAME.c: ..."), so the installed
#    examples and the pages never drift apart;
#  * file-scope code when a line is a lone "{" (a function definition):
#    compiled as printed, as one translation unit;
#  * otherwise a fragment: its #include lines go first, the rest becomes
#    the body of a function whose context is what a fragment may take for
#    granted: a communicator comm, this rank, the number of ranks size and
#    an element count n (int example(struct shmar_comm *comm, int rank,
#    int size, size_t n)), with <shmar.h>, <stdio.h>, <stdlib.h> and
#    <string.h> included.  Anything else it uses it must declare or include.
#
# Each is compiled with $CC -Wall -Wextra -Werror -I$top_builddir/lib.
# Runs as an automake test (top_srcdir, top_builddir and CC in the
# environment) or by hand from the build tree.  Exit 77 without a compiler.

set -u

: "${top_srcdir:=$(dirname "$0")/..}" "${top_builddir:=.}" "${CC:=cc}"
srcdir=$(cd "$top_srcdir" && pwd) || exit 99
builddir=$(cd "$top_builddir" && pwd) || exit 99
CFLAGS_EX="-Wall -Wextra -Werror -I$builddir/lib"
LIBS_EX="-L$builddir/lib/.libs -lshmar"

if ! command -v "${CC%% *}" >/dev/null 2>&1; then
	echo "SKIP: no C compiler ($CC)"
	exit 77
fi
[ -r "$builddir/lib/shmar.h" ] || { echo "FAIL: $builddir/lib/shmar.h is not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

fails=0
blocks=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# Split the EXAMPLES section of page $1 into $tmp/PAGE.N.txt, one file per
# .EX block, with the escapes a page may use in code undone.  An escape not
# in the list is an error: the page would not print what the test compiles.
extract() { # page
	awk -v out="$tmp/${1##*/}" '
		/^\.SH/ { in_ex = ($0 ~ /^\.SH[ \t]+"?EXAMPLES"?[ \t]*$/); next }
		!in_ex { next }
		/^\.EX/ { n++; file = out "." n ".txt"; printf "" > file; on = 1; next }
		/^\.EE/ { on = 0; close(file); next }
		!on { next }
		/^[.\047]/ { next }   # a request inside the block
		{ print > file }
	' "$1"
}

unescape() { # file: prints the code; fails on an unknown escape
	sed -e 's/\\e/\x01/g' "$1" > "$tmp/esc"
	sed -e 's/\\-/-/g; s/\\(aq/'"'"'/g; s/\\(dq/"/g; s/\\(ga/`/g; s/\\(ti/~/g; s/\\(ha/^/g' \
	    -e 's/\\&//g; s/\\|//g; s/\\^//g; s/\\f[BIRP]//g; s/\\ / /g' "$tmp/esc" > "$tmp/esc2"
	if grep -n '\\' "$tmp/esc2" > "$tmp/bad"; then
		sed 's/^/    unknown roff escape: /' "$tmp/bad"
		return 1
	fi
	tr '\001' '\\' < "$tmp/esc2"
}

compile() { # label what source [extra args]: compile, print errors on failure
	label=$1 what=$2 src=$3
	shift 3
	# shellcheck disable=SC2086 # CC and the flags are word lists
	if ! $CC $CFLAGS_EX "$src" "$@" > "$tmp/cc.out" 2>&1; then
		fail "$label ($what) does not compile:"
		sed 's/^/    /' "$tmp/cc.out"
		echo "    --- as compiled:"
		cat -n "$src" | sed 's/^/    /'
		return 1
	fi
	echo "ok: $label ($what)"
}

# The examples/c file a whole program names in its first line, minus the
# file's SPDX line; the difference with the page, if any.
same_as_file() { # label code
	name=$(sed -n '1s:^/\* *\([A-Za-z0-9_-]*\.c\)[: ].*:\1:p' "$2")
	if [ -z "$name" ]; then
		fail "$1: a whole program must start with /* NAME.c: ... */ naming its file in examples/c/"
		return
	fi
	file=$srcdir/examples/c/$name
	if [ ! -f "$file" ]; then
		fail "$1: examples/c/$name does not exist"
		return
	fi
	sed '1{/^\/\* SPDX-License-Identifier: .*\*\/$/d}' "$file" > "$tmp/file.c"
	if ! diff -u "$tmp/file.c" "$2" > "$tmp/diff"; then
		fail "$1: the program differs from examples/c/$name:"
		sed 's/^/    /' "$tmp/diff"
	fi
}

wrap() { # code: a fragment as the body of a function with its context
	cat <<-'EOF'
	#include <shmar.h>
	#include <stdio.h>
	#include <stdlib.h>
	#include <string.h>
	EOF
	grep '^#include' "$1"
	cat <<-'EOF'

	int example(struct shmar_comm *comm, int rank, int size, size_t n);

	int example(struct shmar_comm *comm, int rank, int size, size_t n)
	{
	(void)comm; (void)rank; (void)size; (void)n;
	{
	#line 1 "fragment"
	EOF
	grep -v '^#include' "$1"
	printf '}\nreturn 0;\n}\n'
}

# libshmar-mpi's pages compile against its header and MPI's, and only
# where configure found MPI (it exports MPI_CFLAGS, empty without MPI).
have_mpi() {
	[ -n "${MPI_CFLAGS:-}" ] &&
		printf '#include <mpi.h>\n' | $CC $MPI_CFLAGS -E -x c - >/dev/null 2>&1
}

for page in "$srcdir"/man/*.3 "$srcdir"/man/*.7; do
	[ -f "$page" ] || continue
	case $(sed -n '/^\.\\"/d; /^'"'"'\\"/d; /^[.'"'"']/{p;q;}' "$page") in
	.so*) continue ;; # an alias
	esac
	extra="" mpi=0
	case ${page##*/} in
	shmar_mpi_*)
		if ! have_mpi; then
			echo "ok: ${page##*/} (no MPI here: not compiled)"
			continue
		fi
		extra="-I$srcdir/mpi $MPI_CFLAGS" mpi=1
		;;
	esac
	rm -f "$tmp/${page##*/}".*.txt
	extract "$page"
	for block in "$tmp/${page##*/}".*.txt; do
		[ -f "$block" ] || continue
		n=${block%.txt}
		n=${n##*.}
		label="${page##*/} EXAMPLES block $n"
		blocks=$((blocks + 1))
		code=$tmp/code.c
		if ! unescape "$block" > "$code"; then
			fail "$label: cannot be read as code"
			continue
		fi
		first=$(sed -n '/./{p;q;}' "$code")
		case $first in
		'$ '*)
			echo "ok: $label (shell session, not compiled)"
			continue
			;;
		esac
		# shellcheck disable=SC2086 # extra is a word list
		if grep -q '\(^\|[^A-Za-z0-9_]\)main *(' "$code" && [ "$mpi" -eq 1 ]; then
			compile "$label" "whole MPI program" "$code" $extra -c -o "$tmp/unit.o"
		elif grep -q '\(^\|[^A-Za-z0-9_]\)main *(' "$code"; then
			same_as_file "$label" "$code"
			compile "$label" "whole program" "$code" -o "$tmp/prog" $LIBS_EX
		elif grep -q '^{$' "$code"; then
			compile "$label" "file-scope code" "$code" $extra -c -o "$tmp/unit.o"
		else
			wrap "$code" > "$tmp/wrapped.c"
			compile "$label" "fragment in a function" "$tmp/wrapped.c" $extra -c -o "$tmp/unit.o"
		fi
	done
done

[ "$blocks" -gt 0 ] || fail "no EXAMPLES blocks found in $srcdir/man"
echo "checked $blocks EXAMPLES blocks: $fails failure(s)"
[ "$fails" -eq 0 ] || exit 1
exit 0

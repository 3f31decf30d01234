#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-manpages.sh - lint every man page in man/ (CONVENTIONS.md c.6).
#
# For every man/*.[1-8]:
#  * a ".so" alias must name manN/<page> of an existing page in man/;
#  * a real page starts with an SPDX comment, its .TH names the file
#    (name and section), and its .SH sections come in man-pages(7) order;
#  * `man --warnings -l` (what lintian's groff-message check runs) and
#    lexgrog (the whatis entry) must print nothing on stderr.
# And every function declared in lib/shmar.h.in (and in libshmar-mpi's
# mpi/shmar-mpi.h) has a page man/<name>.3 whose SYNOPSIS shows its
# prototype as the header declares it.
#
# Runs as an automake test (top_srcdir in the environment) or by hand from
# the source tree.  Exit 77 when man(1) is missing.

set -u

: "${top_srcdir:=$(dirname "$0")/..}"
srcdir=$(cd "$top_srcdir" && pwd) || exit 99
mandir=$srcdir/man
header=$srcdir/lib/shmar.h.in
headers="$header $srcdir/mpi/shmar-mpi.h"

if ! command -v man >/dev/null 2>&1; then
	echo "SKIP: man(1) not found (install man-db and groff-base)"
	exit 77
fi
if ! command -v groff >/dev/null 2>&1; then
	echo "SKIP: groff(1) not found (install groff-base)"
	exit 77
fi
[ -d "$mandir" ] || { echo "FAIL: no directory $mandir"; exit 1; }
for h in $headers; do
	[ -r "$h" ] || { echo "FAIL: cannot read $h"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-manpages.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

# A .so request is resolved relative to the working directory, and pages
# say ".so man3/page.3" as installed.  The source tree keeps all sections
# in one flat man/ directory, so give it the installed shape: manN -> man/.
for n in 1 2 3 4 5 6 7 8; do
	ln -s "$mandir" "$tmp/man$n" || exit 99
done
cd "$tmp" || exit 99

fails=0
pages=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# The first request of a page that is not a comment: ".so X" for an alias.
first_request() {
	sed -n '/^\.\\"/d; /^'"'"'\\"/d; /^[.'"'"']/{p;q;}' "$1"
}

# man-pages(7) section order; headings not listed here are allowed anywhere.
ORDER='NAME|LIBRARY|SYNOPSIS|CONFIGURATION|DESCRIPTION|OPTIONS|EXIT STATUS|RETURN VALUE|ERRORS|ENVIRONMENT|FILES|ATTRIBUTES|VERSIONS|STANDARDS|HISTORY|NOTES|CAVEATS|BUGS|EXAMPLES|AUTHORS|REPORTING BUGS|COPYRIGHT|SEE ALSO'

check_sections() { # path section
	label=${1##*/}
	sh_list=$(sed -n 's/^\.SH[ 	]*//p' "$1" | sed 's/^"\(.*\)"$/\1/')
	printf '%s\n' "$sh_list" | awk -v order="$ORDER" -v page="$label" '
		BEGIN { n = split(order, o, "|"); for (i = 1; i <= n; i++) rank[o[i]] = i; last = 0; lastname = "" }
		NF == 0 { next }
		{
			if (!($0 in rank)) next
			if (rank[$0] <= last) {
				printf "FAIL: %s: section \"%s\" after \"%s\" (man-pages(7) order)\n", page, $0, lastname
				bad = 1
			}
			last = rank[$0]; lastname = $0
		}
		END { exit bad }' || fails=$((fails + 1))
	first=$(printf '%s\n' "$sh_list" | sed -n 1p)
	[ "$first" = NAME ] || fail "$label: first section is \"$first\", not NAME"
	required='NAME DESCRIPTION SEE_ALSO'
	case $2 in
	1 | 8) required="$required SYNOPSIS" ;;
	3) required="$required LIBRARY SYNOPSIS RETURN_VALUE" ;;
	esac
	for s in $required; do
		s=$(echo "$s" | tr _ ' ')
		printf '%s\n' "$sh_list" | grep -qx "$s" || fail "$label: no $s section"
	done
}

for path in "$mandir"/*.[1-8]; do
	[ -e "$path" ] || continue
	pages=$((pages + 1))
	file=${path##*/}
	sect=${file##*.}
	name=${file%.*}
	page=man$sect/$file

	req=$(first_request "$path")
	case $req in
	.so*)
		target=$(printf '%s\n' "$req" | sed 's/^\.so[ 	]*//; s/[ 	]*$//')
		case $target in
		man[1-8]/*.[1-8]) ;;
		*)
			fail "$file: .so target \"$target\" is not manN/page.N"
			continue
			;;
		esac
		if [ ! -f "$mandir/${target#*/}" ]; then
			fail "$file: .so target $target does not exist in man/"
			continue
		fi
		if [ "$(grep -vc '^\.\\"' "$path")" -ne 1 ]; then
			fail "$file: an alias page must hold only its .so line"
		fi
		case $(first_request "$mandir/${target#*/}") in
		.so*) fail "$file: .so target $target is itself an alias" ;;
		esac
		;;
	*)
		case $(sed -n 1p "$path") in
		'.\" SPDX-License-Identifier: '*) ;;
		*) fail "$file: first line is not '.\\\" SPDX-License-Identifier: ...'" ;;
		esac
		th=$(sed -n 's/^\.TH[ 	]*//p' "$path" | sed -n 1p)
		th_name=$(printf '%s\n' "$th" | awk '{ print $1 }' | tr -d '"')
		th_sect=$(printf '%s\n' "$th" | awk '{ print $2 }' | tr -d '"')
		if [ -z "$th" ]; then
			fail "$file: no .TH line"
		elif [ "$th_name" != "$name" ] || [ "$th_sect" != "$sect" ]; then
			fail "$file: .TH says \"$th_name\" section \"$th_sect\", file is $name.$sect"
		fi
		check_sections "$path" "$sect"
		if command -v lexgrog >/dev/null 2>&1; then
			if ! out=$(lexgrog "$page" 2>&1); then
				fail "$file: lexgrog cannot parse the NAME section: $out"
			fi
		fi
		;;
	esac

	# The lint itself: exactly lintian's groff-message command.
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" \
		>/dev/null 2>"$tmp/stderr"
	rc=$?
	if [ -s "$tmp/stderr" ] || [ "$rc" -ne 0 ]; then
		fail "$file: man --warnings (exit $rc):"
		sed 's/^/    /' "$tmp/stderr"
	fi
done

[ "$pages" -gt 0 ] || fail "no man pages in $mandir"

# Every function of the public header has a page whose SYNOPSIS (after .so
# resolution, as a reader sees it) holds the prototype, whitespace aside.
protos=$(cat $headers | sed 's:/\*.*\*/::' | awk '
	/^#/ { next }
	!collecting && /^(SHMAR_WUR[ \t]+)?[A-Za-z_][A-Za-z_0-9 \t*]*[ \t*]shmar_[a-z_0-9]+\(/ { collecting = 1; buf = "" }
	collecting {
		buf = buf " " $0
		if ($0 ~ /\);/) { print buf; collecting = 0 }
	}' | sed 's/SHMAR_WUR//; s/^[ 	]*//; s/[ 	][ 	]*/ /g')
[ -n "$protos" ] || fail "no function declarations found in the public headers"

nfuncs=0
printf '%s\n' "$protos" > "$tmp/protos"
while IFS= read -r proto; do
	[ -n "$proto" ] || continue
	fn=$(printf '%s\n' "$proto" | sed 's/(.*//; s/.*[ *]//')
	nfuncs=$((nfuncs + 1))
	if [ ! -f "$mandir/$fn.3" ]; then
		fail "$fn() is declared in a public header but man/$fn.3 does not exist"
		continue
	fi
	# Render without formatting; man-db strips it when stdout is no tty.
	synopsis=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -E UTF-8 -l "man3/$fn.3" 2>/dev/null |
		awk '/^SYNOPSIS/ { on = 1; next } on && /^[A-Z]/ { exit } on' | tr -d ' \t\n')
	want=$(printf '%s' "$proto" | tr -d ' \t\n')
	case $synopsis in
	*"$want"*) ;;
	*) fail "man/$fn.3: SYNOPSIS does not show the prototype from its header: $proto" ;;
	esac
done < "$tmp/protos"

echo "checked $pages man pages and $nfuncs functions of the public headers: $fails failure(s)"
[ "$fails" -eq 0 ] || exit 1
exit 0

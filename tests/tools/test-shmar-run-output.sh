#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-shmar-run-output.sh - shmar-run(1)'s output: every line of a rank
# whole and tagged with its rank (--tag-output, the default when standard
# output is not a terminal), --no-tag-output, lines without an end, lines
# too long to hold, a reader that goes away; and that after a failure the
# other ranks have --stop-delay to report what they saw before they are
# stopped.
#
# An automake test: exit 0 pass, 1 fail, 77 skip, 99 hard error.

. "${top_srcdir:-.}/tests/tools/shmar-run-lib.sh"

nlines=20

# check_lines WHAT FILE STREAM NRANKS: FILE holds exactly the lines of
# every rank's STREAM ("out" or "err"), each whole, tagged and in order.
check_lines() {
	what=$1
	file=$2
	stream=$3
	n=$4
	bad=$(grep -Ev "^\[rank ([0-9]+)\] rank \1 $stream line [0-9]+: whole\$" "$file" |
		grep -v '^shmar-run: ' | head -n 3)
	if [ -n "$bad" ]; then
		fail "$what: lines that are not whole or not tagged with their rank:"
		echo "$bad" | sed 's/^/    /'
		return
	fi
	r=0
	while [ "$r" -lt "$n" ]; do
		got=$(sed -n "s/^\[rank $r\] rank $r $stream line \([0-9]*\): whole\$/\1/p" "$file" |
			tr '\n' ' ')
		want=$(awk -v n="$nlines" 'BEGIN { for (i = 0; i < n; i++) printf "%d ", i }')
		if [ "$got" != "$want" ]; then
			fail "$what: rank $r: lines '$got', want '$want'"
			return
		fi
		r=$((r + 1))
	done
	pass "$what: $n ranks x $nlines lines, each whole, tagged and in order"
}

# ------------------------------------------------------------ tagging

# Standard output is a file here: tagged by default.
expect 0 "3 ranks write lines in pieces" -n 3 "$helper" --lines "$nlines" --exit 0 "$marker"
check_lines "stdout, tagged by default" "$tmp/out" out 3
check_lines "stderr, tagged by default" "$tmp/err" err 3

expect 0 "--tag-output" -n 3 --tag-output "$helper" --lines "$nlines" --exit 0 "$marker"
check_lines "stdout with --tag-output" "$tmp/out" out 3

expect 0 "--no-tag-output" -n 2 --no-tag-output sh -c 'echo "hello from $SHMAR_RANK"'
if [ "$(sort "$tmp/out" | tr '\n' ' ')" = "hello from 0 hello from 1 " ]; then
	pass "--no-tag-output: the ranks' own lines, untagged"
else
	fail "--no-tag-output: stdout is '$(tr '\n' '|' <"$tmp/out")'"
fi

# --no-tag-output then --tag-output: the last one counts.
expect 0 "--no-tag-output --tag-output" -n 1 --no-tag-output --tag-output echo hi
[ "$(cat "$tmp/out")" = "[rank 0] hi" ] || fail "--no-tag-output --tag-output: '$(cat "$tmp/out")'"

# A last line without its newline still gets its tag and a newline.
expect 0 "a last line without a newline" -n 2 sh -c 'printf "no end $SHMAR_RANK"'
if [ "$(sort "$tmp/out")" = "$(printf '[rank 0] no end 0\n[rank 1] no end 1')" ] &&
	[ "$(tail -c 1 "$tmp/out" | od -An -c | tr -d ' ')" = '\n' ]; then
	pass "a last line without a newline: tagged, newline added"
else
	fail "a last line without a newline: stdout is '$(od -c "$tmp/out" | head -n 3)'"
fi

# Empty lines and a line of 100000 bytes (longer than shmar-run holds):
# cut into pieces, every piece tagged, nothing lost.
expect 0 "an empty line and a line of 100000 bytes" -n 1 sh -c \
	'echo; head -c 100000 /dev/zero | tr "\0" x; echo; echo after'
untagged=$(grep -vc '^\[rank 0\] ' "$tmp/out")
xs=$(sed 's/^\[rank 0\] //' "$tmp/out" | tr -d '\n' | tr -d -c x | wc -c)
first=$(head -n 1 "$tmp/out")
last=$(tail -n 1 "$tmp/out")
if [ "$untagged" -eq 0 ] && [ "$xs" -eq 100000 ] && [ "$first" = "[rank 0] " ] &&
	[ "$last" = "[rank 0] after" ]; then
	pass "a line of 100000 bytes: $(wc -l <"$tmp/out") tagged lines, 100000 x kept"
else
	fail "a line of 100000 bytes: $untagged untagged lines, $xs x, first '$first', last '$last'"
fi

# A rank's own last words come before shmar-run's report of its end.
expect 3 "a rank says why and exits 3" -n 2 --stop-delay 0 sh -c \
	'if [ "$SHMAR_RANK" = 1 ]; then echo "fatal: no model" >&2; exit 3; fi; exec sleep 30'
said=$(grep -n '^\[rank 1\] fatal: no model$' "$tmp/err" | cut -d: -f1)
reported=$(grep -n '^shmar-run: rank 1 (pid [0-9]*) exited with status 3$' "$tmp/err" | cut -d: -f1)
if [ -n "$said" ] && [ -n "$reported" ] && [ "$said" -lt "$reported" ]; then
	pass "the rank's last line, tagged, comes before shmar-run's report"
else
	fail "the rank's last line (line '$said') and shmar-run's report (line '$reported')"
	show_stderr
fi

# On a terminal, untagged by default; --tag-output tags there too.
if command -v script >/dev/null 2>&1; then
	timeout -k 5 30 script -qec "$run -n 1 echo on-a-tty" /dev/null >"$tmp/tty" 2>&1
	if grep -q '^on-a-tty' "$tmp/tty"; then
		pass "standard output a terminal: untagged by default"
	else
		fail "standard output a terminal: got '$(tr -d '\r' <"$tmp/tty")'"
	fi
	timeout -k 5 30 script -qec "$run -n 1 --tag-output echo on-a-tty" /dev/null >"$tmp/tty" 2>&1
	if grep -q '^\[rank 0\] on-a-tty' "$tmp/tty"; then
		pass "standard output a terminal: --tag-output tags"
	else
		fail "standard output a terminal, --tag-output: got '$(tr -d '\r' <"$tmp/tty")'"
	fi
else
	echo "skip: script(1) not found, no terminal to test with"
fi

# A reader that goes away: the ranks get EPIPE/SIGPIPE as without
# shmar-run, and shmar-run ends.
(timeout -k 5 20 "$run" -n 2 yes 2>"$tmp/err"; echo $? >"$tmp/status") | head -n 1 >"$tmp/out"
status=$(cat "$tmp/status")
if [ "$(cat "$tmp/out")" = "[rank 0] y" ] || [ "$(cat "$tmp/out")" = "[rank 1] y" ]; then
	pass "a reader that goes away: got its line"
else
	fail "a reader that goes away: got '$(cat "$tmp/out")'"
fi
if [ "$status" -eq 141 ]; then
	pass "a reader that goes away: the ranks end by SIGPIPE, exit 141"
else
	fail "a reader that goes away: exit $status, want 141"
	show_stderr
fi

# ------------------------------------------------------------ after a failure

# Rank 1 dies; ranks 0 and 2 see it in their barrier within milliseconds
# and take 200 ms to report it.  The default stop delay (1 s) lets them:
# both reports are there and the job ends when they do, well before 1 s
# plus the grace.
rm -rf "$SHMAR_DIR"
started=$(now_ms)
expect 3 "rank 1 dies, ranks 0 and 2 report it" -n 3 --grace 5 sh -c '
	[ "$SHMAR_RANK" = 1 ] && exec "$1" --init --exit 3 "$2"
	exec "$1" --init --barrier "$2"' sh "$helper" "$marker"
within "rank 1 dies, ranks 0 and 2 report it: the job ends with them" "$started" 1500
for r in 0 2; do
	stderr_has "rank $r's own report of rank 1's death is kept" \
		"^\[rank $r\] shmar-run-helper: rank $r: barrier: .*rank 1"
	stderr_has "rank $r's end, on its own, is reported" \
		"^shmar-run: rank $r \(pid [0-9]+\) exited with status 1\$"
done
stderr_has "rank 1 is reported" '^shmar-run: rank 1 \(pid [0-9]+\) exited with status 3$'
no_job_left "after rank 1 died"

# With --stop-delay 0, the others are stopped at once.
started=$(now_ms)
expect 3 "--stop-delay 0" -n 2 --stop-delay 0 sh -c \
	'[ "$SHMAR_RANK" = 1 ] && exit 3; exec "$1" "$2"' sh "$helper" "$marker"
within "--stop-delay 0: rank 0 stopped at once" "$started" 800
stderr_lacks "--stop-delay 0: rank 0, stopped by shmar-run, is not reported" '^shmar-run: rank 0 '

# A rank that does not end on its own is stopped once the delay is over:
# not before, and not much after.
started=$(now_ms)
expect 3 "--stop-delay 0.7" -n 2 --stop-delay 0.7 sh -c \
	'[ "$SHMAR_RANK" = 1 ] && exit 3; exec "$1" "$2"' sh "$helper" "$marker"
took=$(($(now_ms) - started))
if [ "$took" -ge 700 ] && [ "$took" -le 1700 ]; then
	pass "--stop-delay 0.7: rank 0 stopped after $took ms"
else
	fail "--stop-delay 0.7: rank 0 stopped after $took ms, want 700 to 1700"
fi
stderr_lacks "--stop-delay 0.7: rank 0, stopped by shmar-run, is not reported" '^shmar-run: rank 0 '

# A signal during the delay stops the job at once.
sr_marker_dir=$tmp/delay
mkdir -p "$sr_marker_dir"
"$run" -n 2 --stop-delay 30 sh -c '
	[ "$SHMAR_RANK" = 1 ] && { touch "$1/failed"; exit 3; }
	exec "$2" "$3"' sh "$sr_marker_dir" "$helper" "$marker" >"$tmp/out" 2>"$tmp/err" &
job_pid=$!
if wait_for_files "$sr_marker_dir/failed"; then
	sleep 0.3
	started=$(now_ms)
	kill -TERM "$job_pid"
	wait_job 10
	within "SIGTERM during --stop-delay 30: the job ends at once" "$started" 1000
	[ "$status" -eq 3 ] || fail "SIGTERM during --stop-delay: exit $status, want rank 1's 3"
else
	fail "SIGTERM during --stop-delay: rank 1 did not run"
	kill -KILL "$job_pid" 2>/dev/null
	wait_job
fi
no_job_left "after SIGTERM during --stop-delay"

finish

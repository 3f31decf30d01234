#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run.sh LAYOUT.mpi - run tests/mpi/test-mpi under mpirun in the layout the
# file names (automake's log compiler for .mpi tests).  A layout file sets:
#   ranks=N        ranks to start
#   node_size=K    SHMAR_MPI_NODE_SIZE: pretend nodes of K consecutive ranks
#                  (empty: the real split, one node on this machine)
#   mode=death     (optional) one rank dies: mpirun must end the job
# Exit 77 when libshmar-mpi was not built or no Open MPI launcher is found.
set -u
layout=$1
: "${top_builddir:=.}" "${top_srcdir:=.}"
ranks='' node_size='' mode=''
. "$layout" || exit 99

prog=$top_builddir/tests/mpi/test-mpi
if [ ! -x "$prog" ]; then
	echo "SKIP: libshmar-mpi is not built (configure found no MPI)"
	exit 77
fi
if [ -z "${MPIEXEC:-}" ] || [ ! -x "$MPIEXEC" ]; then
	echo "SKIP: no MPI launcher (install openmpi-bin)"
	exit 77
fi
case $("$MPIEXEC" --version 2>&1) in
*"Open MPI"* | *OpenRTE*) ;;
*)
	echo "SKIP: $MPIEXEC is not Open MPI's mpirun, which this runner drives"
	exit 77
	;;
esac

# Open MPI refuses root unless told twice; ranks may outnumber the CPUs.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Every rank is on this machine: shared memory and loopback only.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
if [ -n "$node_size" ]; then
	export SHMAR_MPI_NODE_SIZE="$node_size"
else
	unset SHMAR_MPI_NODE_SIZE
fi
# A private rendezvous directory: nothing may be left in it afterwards.
SHMAR_DIR=$(mktemp -d "${TMPDIR:-/tmp}/shmar-mpi-test.XXXXXX") || exit 99
export SHMAR_DIR
tag="shmar-mpi-test-$$"
# Under AddressSanitizer: memory errors and UBSan stay on, leak detection
# off.  Open MPI leaves allocations at exit whose stacks end in components it
# has unloaded ("<unknown module>"), which no suppression can name.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
fi

root=''
[ "$(id -u)" -eq 0 ] && root=--allow-run-as-root
echo "$layout: $ranks ranks, node size ${node_size:-(real)}, ${mode:-collectives}"
start=$(date +%s)
timeout -k 5 240 "$MPIEXEC" $root --oversubscribe -n "$ranks" "$prog" ${mode:-} "$tag" 2>&1
rc=$?
echo "mpirun exit status $rc after $(($(date +%s) - start)) s"

status=0
case ${mode:-} in
death)
	# The job must end, by MPI (mpirun passes on the signal that killed
	# the rank), well before the timeout.
	if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $(($(date +%s) - start)) -ge 200 ]; then
		echo "FAIL: after a rank died, mpirun exited $rc (0: nobody noticed; 124: a hang)"
		status=1
	fi
	;;
*)
	[ $rc -eq 0 ] || status=1
	;;
esac
# No rank may outlive mpirun.
left=$(pgrep -f -- "$tag" || true)
if [ -n "$left" ]; then
	echo "FAIL: ranks left running: $left"
	kill -9 $left 2>/dev/null
	status=1
fi
if [ -n "$(ls -A "$SHMAR_DIR")" ]; then
	echo "FAIL: left in the rendezvous directory: $(ls -A "$SHMAR_DIR")"
	status=1
fi
rm -rf "$SHMAR_DIR"
exit $status

# See LICENSE file for copyright and license details.
# shellcheck shell=bash disable=SC2034 # globals read by bench/run
# bench/lib.sh: shell functions for the benchmark harness (sourced by
# bench/run; bash, set -u safe).
#
# A benchmark runs one of our tools and a PEER on the same work in the
# same run, under each OpenBLAS environment (bench_envs), and prints one
# `key value' line per measurement:
#
#	NAME pin=P ours_s=S peer_s=S ratio=R goal<=G ours_rss_kb=K
#	    peer_rss_kb=K [ours_U_per_s=X peer_U_per_s=X] metric=time|rss
#	    met=yes|no [key=value ...]
#
# (one line; goal=none and no met= for lines printed for information).
# Times are the best (minimum) of BENCH_RUNS runs, ours and the peer
# interleaved; peak RSS is the largest of the runs (GNU time's %M, in kB).
# Wall time comes from bash's EPOCHREALTIME around the run (microseconds;
# GNU time's %e has only 10 ms steps), so it includes one fork and exec
# of env and time, the same for both sides.
#
# Nothing here ever fails on time or memory: a missed goal is reported
# (met=no, and in the summary), only a command that exits non-zero or
# dies counts as an error, and bench_summary's status is 1 then.
#
# Fairness: give the peer its best settings in its own command, e.g.
#	peer=(env OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$(nproc) python3 x.py)
# The OpenBLAS pin (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) is applied by
# the harness, the same for both sides; do not set it in a command.
#
# A new benchmark is a function registered with bench_register:
#
#	bench_kmeans_faiss() {
#		bench_need kmeans-faiss python3 -c 'import faiss' || return 0
#		local ours=("$MIM_BIN/kmeans-fit" -k 50 "$data")
#		local peer=(python3 "$BENCH_DIR/faiss_kmeans.py" "$data")
#		bench_pair kmeans-vs-faiss time 1.5 ours peer
#	}
#	bench_register kmeans-faiss bench_kmeans_faiss "k-means vs faiss"

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_TIME=${BENCH_TIME:-/usr/bin/time}
BENCH_TMP=''
bench_names=()
declare -A bench_func=() bench_desc=()
bench_nlines=0 bench_ngoals=0 bench_nmet=0 bench_ninfo=0
bench_nerrors=0 bench_nskipped=0
bench_missed=()
BENCH_EXTRA=()

# --------------------------------------------------------------- setup

# bench_init: the temporary directory, removed at exit; checks GNU time
bench_init() {
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mimbench.XXXXXX") || exit 1
	trap 'rm -rf "$BENCH_TMP"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if ! "$BENCH_TIME" -f '%e %M' -o "$BENCH_TMP/t" true 2>/dev/null; then
		echo "bench: $BENCH_TIME: not GNU time (apt-get install time)" >&2
		exit 1
	fi
}

# bench_register NAME FUNCTION DESCRIPTION
bench_register() {
	bench_names+=("$1")
	bench_func[$1]=$2
	bench_desc[$1]=$3
}

# bench_need NAME COMMAND...: run COMMAND quietly; if it fails, print
# "NAME skipped=..." and return 1 (a missing peer or data set is not an
# error: the benchmark is skipped and the summary counts it)
bench_need() {
	local name=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		echo "$name skipped=missing need=$(bench_quote "$*")"
		bench_nskipped=$((bench_nskipped + 1))
		return 1
	fi
}

# bench_cc OUT SRC... [-lfoo ...]: compile a C helper against libmim.a
# (MIM_LIB) with the project's flags; 1 on failure (counted as an error)
bench_cc() {
	local out=$1
	shift
	if ! ${CC:-cc} -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	    -I"$MIM_TOP/lib" -o "$out" "$@" "$MIM_LIB" \
	    -larchive -lpng16 -lz -lm 2>"$BENCH_TMP/cc.err"; then
		echo "bench: cannot build $out:" >&2
		sed 's/^/  /' "$BENCH_TMP/cc.err" >&2
		bench_nerrors=$((bench_nerrors + 1))
		return 1
	fi
}

# bench_cxx OUT SRC... [-lfoo ...]: compile a C++ peer with g++ -O2
# (CXX) in the bench directory at run time; 1 on failure (an error)
bench_cxx() {
	local out=$1
	shift
	if ! ${CXX:-g++} -O2 -o "$out" "$@" 2>"$BENCH_TMP/cc.err"; then
		echo "bench: cannot build $out:" >&2
		sed 's/^/  /' "$BENCH_TMP/cc.err" >&2
		bench_nerrors=$((bench_nerrors + 1))
		return 1
	fi
}

# bench_setup NAME COMMAND...: run a command that prepares data (not
# timed, stdout discarded); on failure show its stderr, count an error
# and return 1
bench_setup() {
	local name=$1
	shift
	if ! "$@" >/dev/null 2>"$BENCH_TMP/setup.err"; then
		echo "bench: $name: setup failed: $*" >&2
		sed 's/^/  /' "$BENCH_TMP/setup.err" >&2
		bench_nerrors=$((bench_nerrors + 1))
		return 1
	fi
}

# bench_goal NAME PIN KEY VALUE GOAL: a second goal of a line (VALUE at
# most GOAL, e.g. a relative difference of inertias), counted in the
# summary like a line's goal; sets BENCH_MET to yes or no
bench_goal() {
	bench_ngoals=$((bench_ngoals + 1))
	if awk -v r="$4" -v g="$5" 'BEGIN { exit !(r + 0 <= g + 0) }'; then
		BENCH_MET=yes
		bench_nmet=$((bench_nmet + 1))
	else
		BENCH_MET=no
		bench_missed+=("$1 pin=$2 $3=$4 goal<=$5 metric=$3")
	fi
}

# bench_quote STRING: STRING with spaces as '_' so it stays one value
bench_quote() {
	local s=$1
	printf '%s' "${s// /_}"
}

# ------------------------------------------------------- environments

# bench_envs: the OpenBLAS environments to run each pair under: "asis"
# (the environment as it is), and "unset" (OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE removed) when either is set
bench_envs() {
	echo asis
	if [ -n "${OPENBLAS_CORETYPE+x}" ] || [ -n "${OPENBLAS_L2_SIZE+x}" ]; then
		echo unset
	fi
}

# bench_pin ENV: the pin= label of an environment: the value of
# OPENBLAS_CORETYPE as it is (asis if only OPENBLAS_L2_SIZE is set), or
# unset
bench_pin() {
	if [ "$1" = unset ]; then
		echo unset
	elif [ -n "${OPENBLAS_CORETYPE+x}" ]; then
		echo "${OPENBLAS_CORETYPE:-empty}"
	elif [ -n "${OPENBLAS_L2_SIZE+x}" ]; then
		echo asis
	else
		echo unset
	fi
}

# bench_in_env ENV COMMAND...: run COMMAND in that environment
bench_in_env() {
	local e=$1
	shift
	if [ "$e" = unset ]; then
		env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------- measuring

# bench_once ENV COMMAND...: one run, stdout to /dev/null; sets B_S
# (wall seconds) and B_RSS (peak RSS, kB).  Returns the command's status;
# on failure its stderr is in $BENCH_TMP/stderr.
bench_once() {
	local e=$1 t0 t1 rc line
	shift
	t0=${EPOCHREALTIME/[.,]/}
	bench_in_env "$e" "$BENCH_TIME" -f '%e %M' -o "$BENCH_TMP/time" \
	    "$@" >/dev/null 2>"$BENCH_TMP/stderr"
	rc=$?
	t1=${EPOCHREALTIME/[.,]/}
	line=$(tail -n 1 "$BENCH_TMP/time" 2>/dev/null)
	B_S=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.6f", d / 1e6 }')
	B_RSS=${line##* }
	case $B_RSS in '' | *[!0-9]*) B_RSS=0 ;; esac
	if [ "$rc" -ne 0 ]; then
		# GNU time writes "Command terminated by signal N" and the like
		grep -h '^Command' "$BENCH_TMP/time" >>"$BENCH_TMP/stderr" 2>/dev/null
		return "$rc"
	fi
	return 0
}

# bench_measure ENV COMMAND...: BENCH_RUNS runs; sets M_S (minimum time)
# and M_RSS (maximum peak RSS).  1 if a run failed.
bench_measure() {
	local e=$1 r
	shift
	M_S='' M_RSS=0
	for ((r = 0; r < BENCH_RUNS; r++)); do
		bench_once "$e" "$@" || return 1
		M_S=$(bench_min "$M_S" "$B_S")
		[ "$B_RSS" -gt "$M_RSS" ] && M_RSS=$B_RSS
	done
	return 0
}

bench_min() {
	awk -v a="$1" -v b="$2" 'BEGIN { print ((a == "" || b + 0 < a + 0) ? b : a) }'
}

# bench_measure_pair ENV OURS PEER: OURS and PEER name arrays holding the
# two commands; BENCH_RUNS runs of each, interleaved, so that drift in
# the machine's speed hits both sides.  Sets O_S O_RSS P_S P_RSS; on
# failure returns 1 with BENCH_FAILED (ours or peer) set.
bench_measure_pair() {
	local _bmp_e=$1 _bmp_r
	local -n _bmp_ours=$2 _bmp_peer=$3
	O_S='' O_RSS=0 P_S='' P_RSS=0 BENCH_FAILED=''
	for ((_bmp_r = 0; _bmp_r < BENCH_RUNS; _bmp_r++)); do
		bench_once "$_bmp_e" "${_bmp_ours[@]}" || { BENCH_RC=$? BENCH_FAILED=ours; return 1; }
		O_S=$(bench_min "$O_S" "$B_S")
		[ "$B_RSS" -gt "$O_RSS" ] && O_RSS=$B_RSS
		bench_once "$_bmp_e" "${_bmp_peer[@]}" || { BENCH_RC=$? BENCH_FAILED=peer; return 1; }
		P_S=$(bench_min "$P_S" "$B_S")
		[ "$B_RSS" -gt "$P_RSS" ] && P_RSS=$B_RSS
	done
	return 0
}

# ----------------------------------------------------------- printing

# bench_line NAME PIN METRIC GOAL OS PS ORSS PRSS [key=value ...]: one
# measurement line; METRIC time or rss picks what the ratio compares,
# GOAL is the largest ratio that meets the goal or - (information only).
# Extra key=value words are appended as given.
bench_line() {
	local name=$1 pin=$2 metric=$3 goal=$4 os=$5 ps=$6 orss=$7 prss=$8
	local ratio met
	shift 8
	if [ "$metric" = rss ]; then
		ratio=$(awk -v a="$orss" -v b="$prss" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	else
		ratio=$(awk -v a="$os" -v b="$ps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	fi
	bench_nlines=$((bench_nlines + 1))
	if [ "$goal" = - ]; then
		bench_ninfo=$((bench_ninfo + 1))
		printf '%s pin=%s ours_s=%.3f peer_s=%.3f ratio=%s goal=none ours_rss_kb=%s peer_rss_kb=%s' \
		    "$name" "$pin" "$os" "$ps" "$ratio" "$orss" "$prss"
		printf ' %s' metric="$metric" "$@"
		printf '\n'
		return 0
	fi
	bench_ngoals=$((bench_ngoals + 1))
	if awk -v r="$ratio" -v g="$goal" 'BEGIN { exit !(r + 0 <= g + 0) }'; then
		met=yes
		bench_nmet=$((bench_nmet + 1))
	else
		met=no
		bench_missed+=("$name pin=$pin ratio=$ratio goal<=$goal metric=$metric")
	fi
	printf '%s pin=%s ours_s=%.3f peer_s=%.3f ratio=%s goal<=%s ours_rss_kb=%s peer_rss_kb=%s' \
	    "$name" "$pin" "$os" "$ps" "$ratio" "$goal" "$orss" "$prss"
	printf ' %s' metric="$metric" met="$met" "$@"
	printf '\n'
}

# bench_error NAME PIN SIDE COMMAND...: report a crashed command
bench_error() {
	local name=$1 pin=$2 side=$3
	shift 3
	bench_nerrors=$((bench_nerrors + 1))
	echo "$name pin=$pin error=$side-failed rc=${BENCH_RC:-?} cmd=$(bench_quote "$*")"
	{
		echo "bench: $name: $side command failed (status ${BENCH_RC:-?}): $*"
		tail -n 20 "$BENCH_TMP/stderr" | sed 's/^/  /'
	} >&2
}

# ------------------------------------------------------------- pairs

# bench_pair [-n COUNT -u UNIT] [-k HOOK] NAME METRIC GOAL OURS PEER
#     [key=value ...]
# Measure the commands in the arrays named OURS and PEER under every
# environment of bench_envs and print a line for each.  METRIC is time
# (ratio = ours_s / peer_s) or rss (ratio = ours_rss_kb / peer_rss_kb);
# GOAL the largest ratio that meets the goal, or - for information.  With
# -n, both sides processed COUNT items of UNIT (default items) and the
# line adds ours_UNIT_per_s and peer_UNIT_per_s.  Returns 0 even when a
# command failed (counted, and reported by bench_summary).  The arrays
# may have any name that does not start with _b.  With -k, the function
# HOOK runs after each measurement with the arguments NAME PIN (the
# outputs of the last runs are there to read); it sets the array
# BENCH_EXTRA to key=value words added at the end of the line (such as
# both sides' inertia), and may count goals of its own (bench_goal);
# a status other than 0 counts as an error and drops the line.
bench_pair() {
	local _bp_count='' _bp_unit=items _bp_e _bp_pin _bp_hook=''
	while [ $# -gt 0 ]; do
		case $1 in
		-n) _bp_count=$2; shift 2 ;;
		-u) _bp_unit=$2; shift 2 ;;
		-k) _bp_hook=$2; shift 2 ;;
		*) break ;;
		esac
	done
	local _bp_name=$1 _bp_metric=$2 _bp_goal=$3 _bp_oursv=$4 _bp_peerv=$5
	shift 5
	local -n _bp_ours=$_bp_oursv _bp_peer=$_bp_peerv
	for _bp_e in $(bench_envs); do
		_bp_pin=$(bench_pin "$_bp_e")
		if ! bench_measure_pair "$_bp_e" "$_bp_oursv" "$_bp_peerv"; then
			if [ "$BENCH_FAILED" = ours ]; then
				bench_error "$_bp_name" "$_bp_pin" ours "${_bp_ours[@]}"
			else
				bench_error "$_bp_name" "$_bp_pin" peer "${_bp_peer[@]}"
			fi
			continue
		fi
		BENCH_EXTRA=()
		if [ -n "$_bp_hook" ] && ! "$_bp_hook" "$_bp_name" "$_bp_pin"; then
			bench_nerrors=$((bench_nerrors + 1))
			echo "$_bp_name pin=$_bp_pin error=check-failed"
			echo "bench: $_bp_name: $_bp_hook failed" >&2
			continue
		fi
		if [ -n "$_bp_count" ]; then
			bench_line "$_bp_name" "$_bp_pin" "$_bp_metric" "$_bp_goal" \
			    "$O_S" "$P_S" "$O_RSS" "$P_RSS" \
			    "$(bench_rate ours "$_bp_unit" "$_bp_count" "$O_S")" \
			    "$(bench_rate peer "$_bp_unit" "$_bp_count" "$P_S")" "$@" \
			    ${BENCH_EXTRA[@]+"${BENCH_EXTRA[@]}"}
		else
			bench_line "$_bp_name" "$_bp_pin" "$_bp_metric" "$_bp_goal" \
			    "$O_S" "$P_S" "$O_RSS" "$P_RSS" "$@" \
			    ${BENCH_EXTRA[@]+"${BENCH_EXTRA[@]}"}
		fi
	done
	return 0
}

# bench_rate SIDE UNIT COUNT SECONDS: the word SIDE_UNIT_per_s=RATE
bench_rate() {
	awk -v w="$1" -v u="$2" -v n="$3" -v s="$4" \
	    'BEGIN { printf "%s_%s_per_s=%.0f", w, u, (s > 0 ? n / s : 0) }'
}

# ------------------------------------------------------------ summary

# bench_summary: the final lines; status 1 if a command failed, else 0
# (never because of a missed goal)
bench_summary() {
	local m
	for m in ${bench_missed[@]+"${bench_missed[@]}"}; do
		echo "missed $m"
	done
	echo "summary lines=$bench_nlines goals=$bench_ngoals met=$bench_nmet" \
	    "missed=$((bench_ngoals - bench_nmet)) info=$bench_ninfo" \
	    "skipped=$bench_nskipped errors=$bench_nerrors"
	[ "$bench_nerrors" -eq 0 ]
}

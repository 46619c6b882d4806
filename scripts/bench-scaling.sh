#!/usr/bin/env bash
# bench-scaling.sh: how Confidant's request latency grows with the size of
# the data set (issue 5).
#
# For each size in SIZES it seeds a synthetic data set (or resumes / reuses
# one seeded before: `confidant seed` is resumable), starts `confidant serve`
# on a free loopback port, drives it with `confidant bench --json`, stops the
# server, and at the end draws latency against data size with
# `go run ./cmd/benchplot` and prints the same numbers as a Markdown table,
# with the server's CPU per request in a second one.
#
#   scripts/bench-scaling.sh
#   SIZES="1000 4000 12000 36000" scripts/bench-scaling.sh
#   SIZES="500 2000" NOTES=5 USERS=10 DURATION=10s OUT=/tmp/s.svg scripts/bench-scaling.sh
#   SIZES=36000 BENCH_FLAGS=--spread PLAIN_BIN=./confidant-baseline scripts/bench-scaling.sh
#
# Environment (defaults in brackets):
#   SIZES      patients per data set, space-separated ["1000 4000 12000"]
#   NOTES      session notes per patient [28]
#   USERS      concurrent simulated users of `confidant bench` [50]
#   DURATION   length of each bench run [30s]
#   BENCH_FLAGS more `confidant bench` flags, e.g. --spread (every user a
#              different therapist, on that therapist's whole caseload) []
#   BASE       working directory: data sets, bench JSON, machine.txt [/tmp/confidant-scaling]
#   OUT        the SVG plot [docs/bench-scaling.svg in the repository]
#   PLOT_FLAGS more cmd/benchplot flags, e.g. -ylog []
#   TITLE      the plot's title
#   CONFIDANT  the confidant binary [built from ./cmd/confidant into BASE/confidant]
#   PLAIN_BIN  optional: a binary built with -tags baseline; if set, every
#              size is also seeded, served and benched with
#              --insecure-plain-baseline (data in BASE/plain-SIZE), labelled
#              plain:SIZE in the plot and the table
#
# Files under BASE: SIZE/ and SIZE-keys/ (a data set and its KEK),
# plain-SIZE/, SIZE.params and plain-SIZE.params (the seed parameters, so
# that a reused data set is known to match), bench-SIZE.json and bench-plain-SIZE.json (the
# bench results, with the server's CPU per request: bench is given the
# server's process id), serve-*.log, machine.txt. The data sets are synthetic;
# delete BASE to start over. Uses SQLite: CONFIDANT_* settings of the calling
# environment are ignored so that a stray CONFIDANT_DATABASE_URL cannot point
# a seed at a real database.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

abs() { # abs PATH: PATH made absolute against the caller's directory
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PWD/$1" ;;
	esac
}

SIZES=${SIZES:-"1000 4000 12000"}
NOTES=${NOTES:-28}
USERS=${USERS:-50}
DURATION=${DURATION:-30s}
BASE=$(abs "${BASE:-/tmp/confidant-scaling}")
if [[ -n ${OUT:-} ]]; then OUT=$(abs "$OUT"); else OUT=$ROOT/docs/bench-scaling.svg; fi
TITLE=${TITLE:-"Confidant: latency against data size (${USERS} users, ${DURATION} per size, ${NOTES} notes per patient)"}
PLAIN_BIN=${PLAIN_BIN:-}
[[ -n $PLAIN_BIN ]] && PLAIN_BIN=$(abs "$PLAIN_BIN")

die() {
	echo "bench-scaling: $*" >&2
	exit 1
}

posint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

for s in $SIZES; do posint "$s" || die "SIZES: \"$s\" is not a positive whole number of patients"; done
[[ -n ${SIZES// /} ]] || die "SIZES is empty"
posint "$NOTES" || die "NOTES: \"$NOTES\" is not a positive whole number"
posint "$USERS" || die "USERS: \"$USERS\" is not a positive whole number"
command -v curl >/dev/null || die "curl is needed to wait for the server"

# Settings of the calling environment must not redirect the runs.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^CONFIDANT_' || true)

mkdir -p "$BASE"

if [[ -n ${CONFIDANT:-} ]]; then
	CONFIDANT=$(abs "$CONFIDANT")
	[[ -x $CONFIDANT ]] || die "CONFIDANT=$CONFIDANT is not an executable"
else
	echo "building ./cmd/confidant into $BASE/confidant" >&2
	(cd "$ROOT" && go build -o "$BASE/confidant" ./cmd/confidant)
	CONFIDANT=$BASE/confidant
fi
if [[ -n $PLAIN_BIN ]]; then
	[[ -x $PLAIN_BIN ]] || die "PLAIN_BIN=$PLAIN_BIN is not an executable"
	help=$("$PLAIN_BIN" serve --help 2>&1 || true) # --help exits non-zero
	[[ $help == *insecure-plain-baseline* ]] ||
		die "PLAIN_BIN=$PLAIN_BIN has no --insecure-plain-baseline flag on serve (build it with -tags baseline)"
fi

machine() { # machine WHEN: append the machine's state to BASE/machine.txt
	{
		echo "== $1: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "nproc: $(nproc)"
		echo "uptime: $(uptime)"
	} >>"$BASE/machine.txt"
}

{
	echo "bench-scaling.sh SIZES=\"$SIZES\" NOTES=$NOTES USERS=$USERS DURATION=$DURATION BENCH_FLAGS=\"${BENCH_FLAGS:-}\" PLAIN_BIN=${PLAIN_BIN:-none}"
	echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)')"
	echo "kernel: $(uname -srm)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || echo unknown)"
	echo "memory: $(grep -m1 MemTotal /proc/meminfo 2>/dev/null | awk '{printf "%.1f GiB", $2/1048576}' || echo unknown)"
} >"$BASE/machine.txt"
machine start

SERVER_PID=
stop_server() {
	[[ -n $SERVER_PID ]] || return 0
	local pid=$SERVER_PID
	SERVER_PID=
	kill -INT "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 300); do # up to 30 s for a graceful shutdown
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "bench-scaling: server $pid did not stop in 30 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# seed BIN DIR SIZE [FLAG]: seed (or resume, or reuse) the data set in DIR.
seed() {
	local bin=$1 dir=$2 size=$3 flag=${4:-}
	local params=$dir.params now
	if [[ -f $params ]]; then
		now=$(sed -n 's/^now=//p' "$params")
		grep -qx "patients=$size" "$params" && grep -qx "notes=$NOTES" "$params" ||
			die "$dir was seeded with other parameters ($(tr '\n' ' ' <"$params")); use another BASE or delete it"
	else
		[[ ! -e $dir ]] || die "$dir exists but $params does not: not seeded by this script; delete it or use another BASE"
		now=$(date -u +%F)
		printf 'patients=%s\nnotes=%s\nnow=%s\n' "$size" "$NOTES" "$now" >"$params"
	fi
	echo "seeding $dir: $size patients, $NOTES notes each" >&2
	# shellcheck disable=SC2086 # $flag is empty or one word
	"$bin" seed $flag --data "$dir" --patients "$size" --notes-per-patient "$NOTES" --now "$now" </dev/null >&2
	[[ -f $dir/seed-logins.json ]] || die "$dir/seed-logins.json is missing after seeding"
}

# bench BIN DIR OUTJSON LOG [FLAG]: serve DIR, bench it into OUTJSON, stop.
bench() {
	local bin=$1 dir=$2 out=$3 log=$4 flag=${5:-} url=
	# Port 0: the server picks a free port and prints its URL.
	# shellcheck disable=SC2086
	"$bin" serve $flag --data "$dir" --addr 127.0.0.1:0 --log-level error </dev/null >"$log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 600); do # up to 60 s to open the data set
		url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n1 || true)
		[[ -n $url ]] && curl -fsS -o /dev/null --max-time 2 "$url/healthz" 2>/dev/null && break
		kill -0 "$SERVER_PID" 2>/dev/null || {
			cat "$log" >&2
			SERVER_PID=
			die "the server for $dir exited before answering (log above)"
		}
		url=
		sleep 0.1
	done
	[[ -n $url ]] || {
		cat "$log" >&2
		die "the server for $dir did not answer within 60 s"
	}
	echo "serving $dir at $url; bench: $USERS users for $DURATION" >&2
	machine "before bench of $dir"
	# shellcheck disable=SC2086 # BENCH_FLAGS: words on purpose
	"$CONFIDANT" bench --url "$url" --server-pid "$SERVER_PID" --logins "$dir/seed-logins.json" --users "$USERS" \
		--duration "$DURATION" ${BENCH_FLAGS:-} --json >"$out.tmp"
	mv "$out.tmp" "$out"
	stop_server
}

ARGS=()
for size in $SIZES; do
	seed "$CONFIDANT" "$BASE/$size" "$size"
	bench "$CONFIDANT" "$BASE/$size" "$BASE/bench-$size.json" "$BASE/serve-$size.log"
	ARGS+=("$size=$BASE/bench-$size.json")
	if [[ -n $PLAIN_BIN ]]; then
		seed "$PLAIN_BIN" "$BASE/plain-$size" "$size" --insecure-plain-baseline
		bench "$PLAIN_BIN" "$BASE/plain-$size" "$BASE/bench-plain-$size.json" "$BASE/serve-plain-$size.log" --insecure-plain-baseline
		ARGS+=("plain:$size=$BASE/bench-plain-$size.json")
	fi
done
machine end

mkdir -p "$(dirname "$OUT")"
# PLOT_FLAGS: more benchplot flags, e.g. -ylog.
(cd "$ROOT" && go run ./cmd/benchplot ${PLOT_FLAGS:-} -o "$OUT" -title "$TITLE" "${ARGS[@]}")
echo "plot: $OUT; bench results and machine.txt in $BASE" >&2

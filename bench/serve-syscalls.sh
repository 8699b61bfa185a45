#!/bin/bash
# Syscalls per request of the real `hmac-kit serve --workers 1` answering forward-auth under wrk
# (bench/http-wrk.js, forward-auth mode, fresh signatures), stdout a FIFO drained by `cat`, as
# section 3's CLI rows run it (issue #15, session 22). The kernel's side, which callgrind does not
# see: strace's summary of the serve process (all threads) over one run, and wrk's result, whose
# `total` divides the calls. Modes: `c` (strace -f -c), `tt` (strace -f -tt: which fd each
# write goes to, the order within a loop turn), `perf` (perf record -e cpu-clock -g; run with
# NODEFLAGS=--perf-basic-prof to name JIT frames), `none`. KEEPLOG=<file> keeps the stdout.
#
#   bash bench/serve-syscalls.sh <checkout> [seconds=4] [c|tt|perf|none] [-- serve flags...]
#   bash bench/serve-syscalls.sh . 4 c
set -e
BENCH=$(cd "$(dirname "$0")" && pwd)
CO=$(cd "$1" && pwd); SECS=${2:-4}; MODE=${3:-c}; shift 3 || shift $#
[ "$1" = "--" ] && shift
D=$(mktemp -d /tmp/hk-syscalls.XXXX)
BIN=$CO/packages/cli/bin/hmac-kit.js
export HMAC_KIT_MASTER_KEYS="b1:$(head -c32 /dev/urandom | base64)"
node "$BIN" --db "$D/db" principals add bench --kind service >/dev/null 2>&1
node "$BIN" --db "$D/db" keys create --principal bench --json > "$D/key.json" 2>/dev/null
mkfifo "$D/stdout"
cat "$D/stdout" > "${KEEPLOG:-/dev/null}" &
CAT=$!
# shellcheck disable=SC2086
node $NODEFLAGS "$BIN" --db "$D/db" serve --host 127.0.0.1 --port 0 --rate-limit 1000000000/1s --workers 1 "$@" > "$D/stdout" 2> "$D/stderr" &
SRV=$!
for _ in $(seq 100); do grep -q "listening on" "$D/stderr" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o 'listening on http://[^ ]*' "$D/stderr" | sed 's/listening on //')
KEYID=$(node -e "console.log(require('$D/key.json').keyId)")
SECRET=$(node -e "console.log(require('$D/key.json').secret)")
load() {
  echo "{\"url\":\"$URL\",\"mode\":\"forward-auth\",\"keyId\":\"$KEYID\",\"secret\":\"$SECRET\",\"seconds\":$1,\"connections\":8,\"signatures\":$(($1 * 25000))}" |
    node "$BENCH/http-wrk.js"
}
load 3 > "$D/warm.json" # warm-up: V8 optimises before anything is counted
ST=
if [ "$MODE" = c ]; then strace -f -c -o "$D/strace.txt" -p $SRV & ST=$!
elif [ "$MODE" = tt ]; then strace -f -tt -o "$D/strace.txt" -p $SRV & ST=$!
elif [ "$MODE" = perf ]; then perf record -e cpu-clock -F 4999 -g -o "$D/perf.data" -p $SRV & ST=$!
fi
sleep 0.5
load "$SECS" > "$D/run.json"
if [ -n "$ST" ]; then kill -INT $ST; wait $ST || true; fi
kill $SRV; wait $SRV || true
kill $CAT 2>/dev/null || true
echo "output in $D"
cat "$D/run.json"; echo
if [ "$MODE" = c ]; then head -30 "$D/strace.txt"; fi

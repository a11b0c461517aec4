#!/usr/bin/env bash
# What observing costs a signed-in GET /v1/me in CPU instructions: the same variants as
# session.sh's second half, each server run under valgrind's callgrind and sent a fixed number
# of requests one after another on one connection. Instruction counts repeat to within a few
# tenths of a percent whatever else the machine is doing, so they show a change that the
# req/s of session.sh (two cores shared with Postgres and wrk) drowns in noise. They count the
# server's own code only: not the kernel (sockets, scheduling), not the sink. With
# BENCH_CACHE_SIM=1, callgrind also simulates the first-level caches and reports their misses
# per request (instruction fetches, data reads and writes): a request whose extra code and data
# evict the rest costs more than its extra instructions, and these counts repeat as well.
# Talks to 127.0.0.1 only; every wait is bounded.
#
#   bench/instructions.sh
#   ORBIT_BIN=target/release/orbit BENCH_VARIANTS="metrics+traces" bench/instructions.sh
#
# Knobs: ORBIT_BIN (use this binary, skip the build), BENCH_REQUESTS (2000 per variant, after
# 200 not counted), BENCH_VARIANTS (as session.sh's; off is always run), BENCH_CACHE_SIM (0),
# BENCH_POSTGRES_ADMIN_URL.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl psql valgrind callgrind_control
release_binary "$root"

start_postgres_server
cookie=$(sign_in bench@example.com)
stop_server "$server_pid"
server_pid=

start_otlp_sink
requests=${BENCH_REQUESTS:-2000}
callgrind=(--tool=callgrind --instr-atstart=no)
# The events summed per request: instructions, then the first-level caches' misses.
events=(Ir)
if [[ "${BENCH_CACHE_SIM:-0}" == 1 ]]; then
  callgrind+=(--cache-sim=yes)
  events+=(I1mr D1mr+D1mw)
fi

# requests_on N: N signed-in GET /v1/me, one after another on one keep-alive connection.
requests_on() {
  python3 - "$port" "$cookie" "$1" <<'PY'
import http.client, sys
port, cookie, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for _ in range(count):
    connection.request("GET", "/v1/me", headers={"cookie": cookie})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"GET /v1/me answered {response.status}")
PY
}

# counts VAR=value...: the server's `events` per request with these settings.
counts() {
  local out=$tmp/callgrind.out binary=${server_command[-1]}
  rm -f "$out"*
  # The server's environment, then valgrind in front of the binary; counting starts once the
  # server is warm.
  (cd "$tmp" && exec env -i PORT="$port" "$@" "${server_command[@]:0:${#server_command[@]}-1}" \
    valgrind "${callgrind[@]}" --callgrind-out-file="$out" "$binary") \
    >"$tmp/valgrind.log" 2>&1 &
  server_pid=$!
  local _
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$base/health" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/valgrind.log" >&2; die "server exited"; }
    sleep 0.1
  done
  requests_on 200
  callgrind_control --instr=on "$server_pid" >/dev/null 2>&1
  requests_on "$requests"
  callgrind_control --dump "$server_pid" >/dev/null 2>&1
  stop_server "$server_pid"
  server_pid=
  # The dump made above (callgrind.out.1): its totals over every thread, per request, in the
  # order of `events` (a `+` adds callgrind's events up).
  awk -v n="$requests" -v wanted="${events[*]}" '
    /^events:/ { for (i = 2; i <= NF; i++) column[$i] = i }
    /^summary:/ { for (i = 2; i <= NF; i++) total[i] += $i }
    END {
      count = split(wanted, names, " ")
      for (e = 1; e <= count; e++) {
        sum = 0
        parts = split(names[e], part, "+")
        for (p = 1; p <= parts; p++) sum += total[column[part[p]]]
        printf "%s%.0f", (e > 1 ? " " : ""), sum / n
      }
    }' "$out".1
}

variants=("${observing_variants[@]}")
declare -A per_request
for variant in "${variants[@]}"; do
  observing_settings "$variant"
  per_request[$variant]=$(counts "${settings[@]}")
  echo "-- $variant: ${per_request[$variant]} (${events[*]}) per request"
done
echo "== per GET /v1/me ($requests sequential requests per variant, callgrind), change against off:"
if (( ${#events[@]} > 1 )); then
  echo "   Ir instructions; I1mr first-level instruction cache misses; D1mr+D1mw data misses"
fi
for variant in "${variants[@]}"; do
  awk -v label="$variant" -v values="${per_request[$variant]}" -v offs="${per_request[off]}" \
    -v names="${events[*]}" 'BEGIN {
    count = split(values, value, " "); split(offs, off, " "); split(names, name, " ")
    printf "  %-20s", label
    for (e = 1; e <= count; e++)
      printf "  %s %9d %+6.2f%%", name[e], value[e], (value[e] - off[e]) / off[e] * 100
    printf "\n"
  }'
done

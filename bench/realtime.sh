#!/usr/bin/env bash
# Orbit API realtime benchmark: SOCKETS WebSockets in one workspace on one instance (Postgres),
# opened by bench/ws-load (a tokio-tungstenite client in a second process); then ROUNDS
# broadcasts, each a role created through the API, timed from the request to the last socket.
# Talks to 127.0.0.1 only; every wait is bounded.
#
#   bench/realtime.sh
#   BENCH_SOCKETS=2000 bench/realtime.sh
#
# Knobs: ORBIT_BIN (skip the build), BENCH_POSTGRES_ADMIN_URL, BENCH_SOCKETS (10000),
# BENCH_ROUNDS (20), BENCH_CONCURRENCY (200 connects in flight). Needs an open-file limit above
# the socket count (`ulimit -n`).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sockets=${BENCH_SOCKETS:-10000}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl psql
(( $(ulimit -n) > sockets + 100 )) || die "ulimit -n is $(ulimit -n): raise it above $sockets"
release_binary "$root"
(cd "$root" && cargo build --release --quiet -p ws-load)
# Every socket comes from 127.0.0.1: lift the per-IP upgrade limit for this run.
server_env=(WS_UPGRADES_PER_MINUTE=1000000)
start_postgres_server

cookie=$(sign_in bench@example.com)
curl -fsS -X POST "$base/v1/workspaces" -H "cookie: $cookie" -H 'origin: http://localhost:4001' \
  -H 'content-type: application/json' -d '{"name":"Bench","slug":"bench"}' >/dev/null

echo "== $sockets sockets in workspace bench"
WS_URL="ws://127.0.0.1:$port/v1/ws?workspace=bench" COOKIE="$cookie" API="127.0.0.1:$port" \
  SLUG=bench SOCKETS="$sockets" ROUNDS="${BENCH_ROUNDS:-20}" \
  CONCURRENCY="${BENCH_CONCURRENCY:-200}" SERVER_PID="$server_pid" \
  "$root/target/release/ws-load"

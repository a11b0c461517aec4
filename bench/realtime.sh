#!/usr/bin/env bash
# Orbit API realtime benchmark: SOCKETS WebSockets in one workspace, on one instance or spread
# over two sharing a bus, opened by bench/ws-load (a tokio-tungstenite client in a second
# process); then ROUNDS broadcasts, each a role created through the first instance's API, timed
# from the request to the last socket. Talks to 127.0.0.1 only; every wait is bounded.
#
#   bench/realtime.sh                                   # one instance (Postgres LISTEN/NOTIFY bus)
#   BENCH_INSTANCES=2 BENCH_BUS=redis bench/realtime.sh # two instances over Redis
#   BENCH_SOCKETS=2000 bench/realtime.sh
#
# Knobs: ORBIT_BIN (skip the build), BENCH_POSTGRES_ADMIN_URL, BENCH_SOCKETS (10000),
# BENCH_ROUNDS (20), BENCH_CONCURRENCY (200 connects in flight), BENCH_INSTANCES (1 or 2),
# BENCH_BUS (postgres, redis, nats or in-process; default postgres), BENCH_REDIS_URL
# (redis://127.0.0.1:6379), BENCH_NATS_URL (nats://127.0.0.1:4222). Needs an open-file limit
# above the socket count (`ulimit -n`).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sockets=${BENCH_SOCKETS:-10000}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl psql
(( $(ulimit -n) > sockets + 100 )) || die "ulimit -n is $(ulimit -n): raise it above $sockets"
release_binary "$root"
(cd "$root" && cargo build --release --quiet -p ws-load)
instances=${BENCH_INSTANCES:-1}
bus=${BENCH_BUS:-postgres}
# Every socket comes from 127.0.0.1: lift the per-IP upgrade limit for this run.
server_env=(WS_UPGRADES_PER_MINUTE=1000000 REALTIME_BACKEND="$bus")
case $bus in
  redis) server_env+=(REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}") ;;
  nats) server_env+=(NATS_URL="${BENCH_NATS_URL:-nats://127.0.0.1:4222}") ;;
esac
start_postgres_server
ws_urls="ws://127.0.0.1:$port/v1/ws?workspace=bench"
server_pids=$server_pid
if (( instances == 2 )); then
  start_another_instance
  ws_urls+=",ws://127.0.0.1:$port2/v1/ws?workspace=bench"
  server_pids+=",$server_pid2"
fi
echo "bus:      $bus, $instances instance(s)"

cookie=$(sign_in bench@example.com)
curl -fsS -X POST "$base/v1/workspaces" -H "cookie: $cookie" -H 'origin: http://localhost:4001' \
  -H 'content-type: application/json' -d '{"name":"Bench","slug":"bench"}' >/dev/null

echo "== $sockets sockets in workspace bench"
WS_URLS="$ws_urls" COOKIE="$cookie" API="127.0.0.1:$port" \
  SLUG=bench SOCKETS="$sockets" ROUNDS="${BENCH_ROUNDS:-20}" \
  CONCURRENCY="${BENCH_CONCURRENCY:-200}" SERVER_PIDS="$server_pids" \
  "$root/target/release/ws-load"

#!/usr/bin/env bash
# Orbit API authenticated-read benchmark: a signed-in GET /v1/auth/get-session and GET /v1/me
# on Postgres, under wrk from a second process. Every request resolves the session cookie with
# one indexed lookup (nothing is cached, so a revoked session stops working at once).
# Talks to 127.0.0.1 only; every wait is bounded.
#
#   bench/session.sh
#   BENCH_POSTGRES_ADMIN_URL=postgres://user@host:5432/postgres bench/session.sh
#
# Creates a scratch database `orbit_bench_<pid>` on that server and drops it afterwards.
# Knobs: ORBIT_BIN (use this binary, skip the build), BENCH_THREADS (2), BENCH_CONNECTIONS (64),
# BENCH_DURATION (10s), BENCH_POOL_SIZE (DATABASE_POOL_SIZE for the server, 10),
# BENCH_SSLMODE (disable: TLS over loopback only measures encryption; `prefer` to include it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
admin_url=${BENCH_POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}
pool_size=${BENCH_POOL_SIZE:-10}
sslmode=${BENCH_SSLMODE:-disable}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl psql wrk
release_binary "$root"

database=orbit_bench_$$
database_url="${admin_url%/*}/$database?sslmode=$sslmode"
tmp=$(mktemp -d)
server_pid=
cleanup() {
  stop_server "$server_pid"
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

psql -q "$admin_url" -c "CREATE DATABASE $database" >/dev/null || die "cannot create $database"
port=$(free_port)
base="http://127.0.0.1:$port"
# Development mode for the dev routes that hand out the magic link; the rest is production-like.
server=(env -i PATH="$PATH" HOME="$HOME"
  APP_ENV=development
  PORT="$port"
  DATABASE_URL="$database_url"
  DATABASE_POOL_SIZE="$pool_size"
  AUTH_SECRET=bench-secret-0123456789abcdef0123456789abcdef
  LOG_FORMAT=json
  RUST_LOG=warn
  "$ORBIT_BIN")

echo "binary:   $ORBIT_BIN"
echo "database: $database on ${admin_url%/*} (pool $pool_size, sslmode=$sslmode)"
echo

(cd "$tmp" && exec "${server[@]}" migrate up) >"$tmp/migrate.log" 2>&1 \
  || { cat "$tmp/migrate.log" >&2; die "migrate up failed"; }
(cd "$tmp" && exec "${server[@]}") >"$tmp/server.log" 2>&1 &
server_pid=$!
wait_for_health "$server_pid" "$port" "$tmp/server.log"

echo "== sign in through the magic link"
curl -fsS -X POST "$base/v1/auth/sign-in/magic-link" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com"}' >/dev/null
link=$(curl -fsS "$base/v1/dev/last-magic-link?email=bench@example.com" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["link"])')
cookie=$(curl -fsS -o /dev/null -D - "${link/http:\/\/localhost:4002/$base}" \
  | tr -d '\r' | sed -n 's/^set-cookie: \(better-auth.session_token=[^;]*\).*/\1/Ip')
[[ -n "$cookie" ]] || die "no session cookie"
for path in /v1/auth/get-session /v1/me; do
  body=$(curl -fsS "$base$path" -H "cookie: $cookie")
  [[ "$body" == *bench@example.com* ]] || die "$path does not see the session: $body"
done
echo "ok"
echo

declare -A rps p50 p99
for path in /v1/auth/get-session /v1/me; do
  echo "== wrk -t$threads -c$connections -d$duration --latency $path"
  wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "Cookie: $cookie" "$base$path" \
    | tee "$tmp/wrk.txt"
  if grep -qE '^ +Non-2xx' "$tmp/wrk.txt"; then die "$path answered non-2xx under load"; fi
  rps[$path]=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
  p50[$path]=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.txt")
  p99[$path]=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")
  echo
done
rss_mb=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")

echo "== summary (wrk -t$threads -c$connections -d$duration, server pool $pool_size)"
verdict=$(awk -v value="${rps[/v1/auth/get-session]}" 'BEGIN { print (value >= 20000 ? "ok" : "MISSED") }')
printf '  %-24s %10s req/s   p50 %-8s p99 %s\n' \
  "GET /v1/auth/get-session" "${rps[/v1/auth/get-session]}" "${p50[/v1/auth/get-session]}" "${p99[/v1/auth/get-session]}" \
  "GET /v1/me" "${rps[/v1/me]}" "${p50[/v1/me]}" "${p99[/v1/me]}"
echo "  get-session target >= 20000 req/s: $verdict"
echo "  server RSS after load: $rss_mb MB"

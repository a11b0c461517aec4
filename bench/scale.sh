#!/usr/bin/env bash
# Orbit API scale benchmark: every list route at a 10-row size and at the size of a SaaS that
# succeeded (1M users, a 10k-member workspace with 100k past invitations, a user with 1,000
# sessions), seeded by SQL (bench/scale-seed.sql), on Postgres, under wrk from a second
# process: what one request costs (one connection: its median latency), then at the big size
# the throughput under 16 concurrent requests, and the server's RSS after them.
# Targets (issue 18): every route ≤ 10 ms median and within 3× of its 10-row figure; RSS
# under load ≤ 60 MB. Talks to 127.0.0.1 only; every wait is bounded.
#
#   bench/scale.sh
#   BENCH_USERS=100000 bench/scale.sh
#
# Knobs: ORBIT_BIN (use this binary, skip the build), BENCH_POSTGRES_ADMIN_URL, BENCH_USERS
# (1000000), BENCH_MEMBERS (10000), BENCH_PAST_INVITES (100000), BENCH_SESSIONS (1000),
# BENCH_CONNECTIONS (16, the loaded runs), BENCH_DURATION (4s), BENCH_POOL_SIZE (10),
# BENCH_SSLMODE (disable).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-16}
BENCH_DURATION=${BENCH_DURATION:-4s}
big_users=${BENCH_USERS:-1000000}
big_members=${BENCH_MEMBERS:-10000}
big_past=${BENCH_PAST_INVITES:-100000}
big_sessions=${BENCH_SESSIONS:-1000}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl psql wrk
release_binary "$root"
start_postgres_server

# seed USERS MEMBERS PAST SESSIONS: replaces the data with this size (10 pending invitations).
seed() {
  psql -q "$database_url" -c 'TRUNCATE users, workspaces, jobs CASCADE' >/dev/null
  local started=$SECONDS
  psql -q -v ON_ERROR_STOP=1 "$database_url" -v users="$1" -v members="$2" -v pending=10 \
    -v past="$3" -v sessions="$4" -f "$root/bench/scale-seed.sql" >/dev/null
  echo "seeded $1 users, $2 members, 10 + $3 invitations, $4 sessions in $(( SECONDS - started )) s"
}

# The routes measured, by label. The search matches a handful of users at 1M
# (user12345, user123450…), none at 10.
routes=(
  "list-users (first page)|/v1/auth/admin/list-users?limit=10"
  "list-users (search)|/v1/auth/admin/list-users?limit=10&searchValue=user12345"
  "list-users (offset 10,000)|/v1/auth/admin/list-users?limit=10&offset=10000"
  "list-users (deep cursor)|DEEP"
  "workspace|/v1/workspaces/big"
  "members (first page)|/v1/workspaces/big/members"
  "members (10)|/v1/workspaces/big/members?limit=10"
  "members (search)|/v1/workspaces/big/members?q=user12"
  "members (search, 10)|/v1/workspaces/big/members?q=user12&limit=10"
  "invites|/v1/workspaces/big/invites"
  "sessions (first page)|/v1/auth/list-sessions"
  "sessions (10)|/v1/auth/list-sessions?limit=10"
)

# measure SIZE: every route under wrk, one connection at a time (and, at the big size, 16);
# records "SIZE|label" → "p50 rps bytes" and "loaded|label" → "p50 rps".
declare -A results
measure() {
  local cookie entry label path bytes loaded=$connections
  cookie=$(sign_in user1@scale.test)
  for entry in "${routes[@]}"; do
    label=${entry%%|*}
    path=${entry#*|}
    if [[ $path == DEEP ]]; then
      # Past the last users in list order: a cursor from the far end of the table.
      local cursor
      cursor=$(curl -fsS -H "cookie: $cookie" "$base/v1/auth/admin/list-users?limit=5&sortDirection=desc" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["nextCursor"] or "")')
      path="/v1/auth/admin/list-users?limit=10&sortDirection=desc&cursor=$cursor"
    fi
    bytes=$(curl -fsS -H "cookie: $cookie" "$base$path" | wc -c)
    threads=1 connections=1 load "$path" "$cookie"
    results["$1|$label"]="$p50 $rps $bytes"
    if [[ $1 == big ]]; then
      connections=$loaded load "$path" "$cookie"
      results["loaded|$label"]="$p50 $rps"
    fi
  done
}

seed 10 10 10 10
measure small
seed "$big_users" "$big_members" "$big_past" "$big_sessions"
measure big

echo "== RSS under $connections concurrent workspace reads"
cookie=$(sign_in user1@scale.test)
load /v1/workspaces/big "$cookie"
rss_mb=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")
peak_mb=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")

echo "== summary: median latency and req/s with one connection (the cost of a request), and"
echo "   at $big_users users with $connections connections (wrk -d$duration, server pool $pool_size)"
printf '  %-28s %20s %24s %8s %6s %22s\n' route "10 rows" "$big_users users" bytes ratio "$connections connections"
to_ms() {
  python3 -c 'import re, sys
v = sys.argv[1]; n = float(re.match(r"[\d.]+", v).group())
print(n / 1000 if v.endswith("us") else n * 1000 if v.endswith("s") and not v.endswith("ms") else n)' "$1"
}
for entry in "${routes[@]}"; do
  label=${entry%%|*}
  read -r small_p50 small_rps _ <<<"${results["small|$label"]}"
  read -r big_p50 big_rps big_bytes <<<"${results["big|$label"]}"
  read -r loaded_p50 loaded_rps <<<"${results["loaded|$label"]}"
  ratio=$(python3 -c "print(f'{$(to_ms "$big_p50") / $(to_ms "$small_p50"):.1f}x')")
  printf '  %-28s %9s %10s %9s %10s %8s %6s %10s %11s\n' \
    "$label" "$small_p50" "$small_rps" "$big_p50" "$big_rps" "$big_bytes" "$ratio" "$loaded_p50" "$loaded_rps"
done
echo "  server RSS after $connections concurrent workspace reads: $rss_mb MB (peak $peak_mb MB)"

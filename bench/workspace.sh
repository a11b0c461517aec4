#!/usr/bin/env bash
# Orbit API workspace-read benchmark: a signed-in GET /v1/workspaces/:slug (the workspace, you
# and its first 200 members with user and role) on Postgres, under wrk from a second process. The route
# is three queries whatever the member count (session; workspace + your membership + role;
# members + users + roles), which tests/api/tenancy.rs pins down.
# Talks to 127.0.0.1 only; every wait is bounded.
#
#   bench/workspace.sh
#   BENCH_MEMBERS=200 bench/workspace.sh
#
# Knobs: ORBIT_BIN (use this binary, skip the build), BENCH_POSTGRES_ADMIN_URL, BENCH_MEMBERS
# (50 besides you), BENCH_THREADS (2), BENCH_CONNECTIONS (64), BENCH_DURATION (10s),
# BENCH_POOL_SIZE (10), BENCH_SSLMODE (disable).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
members=${BENCH_MEMBERS:-50}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl psql wrk
release_binary "$root"
start_postgres_server

echo "== open a workspace with $members members besides you"
cookie=$(sign_in bench@example.com)
post() {
  curl -fsS -X POST "$base$1" -H "cookie: $cookie" -H 'origin: http://localhost:4001' \
    -H 'content-type: application/json' -d "$2" >/dev/null
}
post /v1/workspaces '{"name":"Bench","slug":"bench"}'
left=$members
while (( left > 0 )); do
  batch=$(( left < 20 ? left : 20 ))
  post /v1/dev/seed-members/bench "{\"count\":$batch}"
  left=$(( left - batch ))
done
seen=$(curl -fsS "$base/v1/workspaces/bench" -H "cookie: $cookie" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["membersTotal"])')
[[ "$seen" == $(( members + 1 )) ]] || die "expected $(( members + 1 )) members, saw $seen"
bytes=$(curl -fsS "$base/v1/workspaces/bench" -H "cookie: $cookie" | wc -c)
echo "ok: $seen members (at most WORKSPACE_MEMBERS_INLINE=200 inlined), $bytes bytes per response"
echo

load /v1/workspaces/bench "$cookie"
rss_mb=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")

echo "== summary (wrk -t$threads -c$connections -d$duration, server pool $pool_size)"
printf '  %-34s %10s req/s   p50 %-8s p99 %s\n' \
  "GET /v1/workspaces/:slug ($seen members)" "$rps" "$p50" "$p99"
echo "  response: $bytes bytes; server RSS after load: $rss_mb MB"

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
#
# Then the cost of observing: GET /v1/me again with the server restarted with metrics on
# (METRICS_TOKEN), and with metrics on and every span exported over OTLP/HTTP to a local sink
# (bench/otlp-sink.py): every request traced, one in ten (OTEL_TRACES_SAMPLER), and none
# (the exporter installed, every request sampled out: its fixed cost); BENCH_VARIANTS (all of
# them) names a subset, such as "metrics metrics+traces". BENCH_ROUNDS (3) rounds of the
# variants, each round starting one variant later; each variant's change is the median of its
# per-round changes against that round's `off` (paired: the machine's slow spells hit whole
# rounds), for req/s and for the server's CPU time per request (steadier than req/s where wrk,
# Postgres and the server share two cores). Target: within 5% of the throughput without them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl psql wrk
release_binary "$root"

start_postgres_server

echo "== sign in through the magic link"
cookie=$(sign_in bench@example.com)
for path in /v1/auth/get-session /v1/me; do
  body=$(curl -fsS "$base$path" -H "cookie: $cookie")
  [[ "$body" == *bench@example.com* ]] || die "$path does not see the session: $body"
done
echo "ok"
echo

declare -A rps_of p50_of p99_of
for path in /v1/auth/get-session /v1/me; do
  load "$path" "$cookie"
  rps_of[$path]=$rps p50_of[$path]=$p50 p99_of[$path]=$p99
done
rss_mb=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")

echo "== summary (wrk -t$threads -c$connections -d$duration, server pool $pool_size)"
verdict=$(awk -v value="${rps_of[/v1/auth/get-session]}" 'BEGIN { print (value >= 20000 ? "ok" : "MISSED") }')
printf '  %-24s %10s req/s   p50 %-8s p99 %s\n' \
  "GET /v1/auth/get-session" "${rps_of[/v1/auth/get-session]}" "${p50_of[/v1/auth/get-session]}" "${p99_of[/v1/auth/get-session]}" \
  "GET /v1/me" "${rps_of[/v1/me]}" "${p50_of[/v1/me]}" "${p99_of[/v1/me]}"
echo "  get-session target >= 20000 req/s: $verdict"
echo

# restart_with VAR=value...: the server again on the same database and port, with these.
restart_with() {
  stop_server "$server_pid"
  launch_env=("$@")
  launch_server "$port" "$tmp/server-observed.log"
  server_pid=$launched_pid
}

start_otlp_sink
rounds=${BENCH_ROUNDS:-3}
# BENCH_VARIANTS: a subset to compare (off is always run: the others are measured against it).
variants=("${observing_variants[@]}")
declare -A runs cpu_runs xact_runs
# The server's CPU time (user + system, every thread: the exporter's included), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Transactions committed in the scratch database: per request, its own query plus its share of
# a coalesced session lookup. How many lookups share a batch differs from one server start to
# the next (1.08 to 1.15 transactions per request, whatever the variant), and req/s with it.
transactions() {
  psql -At "$admin_url" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$database'"
}
# Rounds interleave the variants so that a drift of the machine (caches, the other processes
# on the two cores) is not charged to one of them; each variant's figure is its median.
for round in $(seq "$rounds"); do
  # Each round starts one variant later, so no variant always runs first or last.
  shift_by=$(( (round - 1) % ${#variants[@]} ))
  for variant in "${variants[@]:shift_by}" "${variants[@]:0:shift_by}"; do
    observing_settings "$variant"
    restart_with "${settings[@]}"
    echo "-- round $round: $variant"
    ticks_before=$(cpu_ticks "$server_pid")
    transactions_before=$(transactions)
    load /v1/me "$cookie"
    ticks=$(( $(cpu_ticks "$server_pid") - ticks_before ))
    requests=$(awk '/requests in/ { print $1 }' "$tmp/wrk.txt")
    # The statistics collector reports a backend's counts within half a second.
    sleep 0.6
    xact_runs[$variant]+="$(awk -v t="$(( $(transactions) - transactions_before ))" -v n="$requests" 'BEGIN { printf "%.3f", t / n }') "
    runs[$variant]+="$rps "
    cpu_runs[$variant]+="$(awk -v t="$ticks" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }') "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# changes VALUES BASES: each round's change against the same round's `off`, in percent.
changes() { paste -d' ' <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '{ printf "%.1f ", ($1 - $2) / $2 * 100 }'; }
declare -A observed cpu change cpu_change xacts
for variant in "${variants[@]}"; do
  observed[$variant]=$(median <<<"${runs[$variant]}")
  xacts[$variant]=$(median <<<"${xact_runs[$variant]}")
  cpu[$variant]=$(median <<<"${cpu_runs[$variant]}")
  change[$variant]=$(changes "${runs[$variant]}" "${runs[off]}" | median)
  cpu_change[$variant]=$(changes "${cpu_runs[$variant]}" "${cpu_runs[off]}" | median)
done
exported=$(awk '{ n += 1; bytes += $1 } END { printf "%d exports, %.1f MB", n, bytes / 1e6 }' "$tmp/sink.log")
echo "== the cost of observing GET /v1/me (restarted server, same database; $rounds rounds)"
echo "   median req/s and CPU per request of each variant; change: the median of its rounds'"
echo "   changes against the same round's off (paired, so a slow round is not charged to one variant);"
echo "   database transactions per request (median): one query, plus a share of a session lookup batch"
for variant in "${variants[@]}"; do
  awk -v label="$variant" -v value="${observed[$variant]}" -v change="${change[$variant]}" -v all="${runs[$variant]}" \
    -v cpu="${cpu[$variant]}" -v cpu_change="${cpu_change[$variant]}" -v cpu_all="${cpu_runs[$variant]}" -v xacts="${xacts[$variant]}" 'BEGIN {
    printf "  %-20s %8.0f req/s %+6.1f%%  %-30s server CPU %6.1f us/req %+6.1f%%  %.3f xacts/req  (runs: %s; CPU: %s)\n", label, value, change, (change >= -5 ? "ok" : "MISSED (target within 5%)"), cpu, cpu_change, xacts, all, cpu_all
  }'
done
echo "  the sink received $exported"
echo "  server RSS after load: $rss_mb MB"

#!/usr/bin/env bash
# The queue the app runs (features/jobs) on Postgres, through the real binaries: enqueue rate
# (jobs-load, through orbit-jobs in sea-orm transactions), processing rate of no-op jobs with
# the worker in the API process (`orbit`, JOBS_IN_PROCESS=true) and as `orbit worker`, and
# enqueue→start latency on an idle worker. Called by bench/jobs.sh; runs alone too:
#
#   bench/jobs-orbit.sh          # Postgres at 127.0.0.1:5432 (DATABASE_URL names another server)
#
# Creates the database jobsbench_orbit_<pid> (dropped on exit). Every run is bounded (≤ 120 s).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/lib.sh"
command -v psql >/dev/null || die "psql is required"

# The server: $DATABASE_URL's, else the local one (bench/lib.sh).
postgres_server
db=jobsbench_orbit_$$
db_url="$server/$db$query"
jobs=${JOBS:-100000}

(cd "$repo" && cargo build --release --quiet -p orbit -p jobs-load)
orbit=$repo/target/release/orbit
load=$repo/target/release/jobs-load

child=
cleanup() {
  [[ -n "$child" ]] && kill "$child" 2>/dev/null || true
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL=$db_url APP_ENV=test AUTH_SECRET=jobs-bench-secret-jobs-bench-secret RUST_LOG=warn
"$orbit" migrate up >/dev/null 2>&1

sql() { psql -qtA "$db_url" -c "$1"; }
live() { sql "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"; }
# start MODE: the API process working jobs (serve) or `orbit worker`; waits until it is up.
start() {
  local port
  port=$(free_port)
  case $1 in
    serve) PORT=$port JOBS_IN_PROCESS=true "$orbit" >/dev/null 2>&1 & ;;
    worker) "$orbit" worker >/dev/null 2>&1 & ;;
  esac
  child=$!
  sleep 1
}
stop() { kill -TERM "$child"; wait "$child" || true; child=; }
# drain LIMIT_SECS: waits until no job is pending or running.
drain() {
  local deadline=$((SECONDS + $1))
  while [[ $(live) != 0 ]]; do
    (( SECONDS < deadline )) || { echo "not drained in $1 s: $(live) left" >&2; return 1; }
    sleep 0.05
  done
}

# 1. Enqueue: BEGIN; enqueue ×N; COMMIT for 2 s, 1 or 16 tasks at once.
for tasks in 1 16; do
  for per_tx in 1 100; do
    timeout 60 "$load" enqueue 2 "$tasks" "$per_tx"
  done
done
sql "DELETE FROM jobs" >/dev/null

# 2. Processing $jobs no-op jobs, enqueued while no worker runs, at JOBS_CONCURRENCY 8 (the
#    default) and 32; the rate is jobs / (last finish − first claim), from the jobs' own times.
for mode in serve worker; do
  for concurrency in 8 32; do
    timeout 120 "$load" fill "$jobs"
    JOBS_CONCURRENCY=$concurrency start "$mode"
    drain 120
    stop
    rate=$(sql "SELECT round(count(*) / ((max(finished_at) - min(started_at)) / 1000.0)) FROM jobs WHERE state = 'succeeded'")
    echo "RESULT process mode=$mode concurrency=$concurrency jobs=$jobs rate=$rate"
    sql "DELETE FROM jobs" >/dev/null
  done
done

# 3. Enqueue→start latency: an idle `orbit worker`, 500 jobs 10 ms apart, each committed alone.
start worker
timeout 60 "$load" trickle 500 10
drain 30
stop
sql "SELECT 'RESULT latency p50_ms=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY started_at - created_at)::numeric, 1)
        || ' p99_ms=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY started_at - created_at)::numeric, 1)
        || ' max_ms=' || max(started_at - created_at) FROM jobs"

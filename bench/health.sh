#!/usr/bin/env bash
# Orbit API health benchmark: launch-to-ready on a migrated database, idle RSS, and /health
# throughput under wrk. Talks to 127.0.0.1 only; every wait is bounded.
#
#   bench/health.sh                                   # SQLite in a temp dir
#   BENCH_DATABASE_URL=postgres://… bench/health.sh   # an existing Postgres database
#
# Knobs: ORBIT_BIN (use this binary, skip the build), BENCH_RUNS (10), BENCH_THREADS (2),
# BENCH_CONNECTIONS (64), BENCH_DURATION (10s).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-10}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
require python3 curl wrk
release_binary "$root"

tmp=$(mktemp -d)
server_pid=
cleanup() {
  stop_server "$server_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(free_port)
database_url=${BENCH_DATABASE_URL:-sqlite://$tmp/bench.db?mode=rwc}
# The server sees only these variables, and runs from the temp dir so no stray .env is read.
server=(env -i PATH="$PATH" HOME="$HOME"
  APP_ENV=development
  PORT="$port"
  DATABASE_URL="$database_url"
  AUTH_SECRET=bench-secret-0123456789abcdef0123456789abcdef
  LOG_FORMAT=json
  RUST_LOG=warn
  "$ORBIT_BIN")
in_tmp() { (cd "$tmp" && exec "$@"); }

echo "binary:   $ORBIT_BIN"
echo "database: ${BENCH_DATABASE_URL:+postgres (BENCH_DATABASE_URL)}${BENCH_DATABASE_URL:-sqlite (temp file)}"
echo "port:     $port"
echo

echo "== migrate (so every launch below boots on an up-to-date schema)"
in_tmp "${server[@]}" migrate up >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; die "migrate up failed"; }
echo "ok"
echo

echo "== launch to first 200 on /health ($runs runs)"
# Python spawns the server and polls with a raw socket every 1 ms for sub-ms timing; it prints
# one line per run on stderr and "median min max stop_median" (ms) on stdout.
read -r launch_median launch_min launch_max stop_median < <(
  in_tmp python3 - "$port" "$runs" "$tmp/server.log" "${server[@]}" <<'PY'
import signal, socket, statistics, subprocess, sys, time

port, runs, log_path, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

def fail(message, proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    with open(log_path, errors="replace") as log:
        tail = log.read()[-2000:]
    sys.exit(f"bench: {message}\n--- server output ---\n{tail}")

def healthy():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(request)
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
        return status_line.split(b" ")[1:2] == [b"200"]
    except OSError:
        return False

ready_ms, stop_ms = [], []
for run in range(1, runs + 1):
    with open(log_path, "w") as log:
        started = time.perf_counter()
        # `env -i … orbit` execs in place, so proc.pid is the server itself.
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        while not healthy():
            if proc.poll() is not None:
                fail(f"server exited with code {proc.returncode} before answering", proc)
            if time.perf_counter() - started > 10:
                fail("no 200 on /health within 10 s", proc)
            time.sleep(0.001)
        ready = (time.perf_counter() - started) * 1000
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fail("server still running 10 s after SIGTERM", proc)
        stopped = (time.perf_counter() - stopping) * 1000
    ready_ms.append(ready)
    stop_ms.append(stopped)
    print(f"  run {run:2}: ready in {ready:7.1f} ms, stopped in {stopped:6.1f} ms", file=sys.stderr)

print(f"{statistics.median(ready_ms):.1f} {min(ready_ms):.1f} {max(ready_ms):.1f} "
      f"{statistics.median(stop_ms):.1f}")
PY
)
echo "median $launch_median ms (min $launch_min, max $launch_max); SIGTERM to exit: median $stop_median ms"
echo

echo "== idle RSS"
# One subshell that execs the server, so $! is the server's own pid.
(cd "$tmp" && exec "${server[@]}") >"$tmp/server.log" 2>&1 &
server_pid=$!
wait_for_health "$server_pid" "$port" "$tmp/server.log"
sleep 2
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status")
rss_mb=$(awk -v kb="$rss_kb" 'BEGIN { printf "%.1f", kb / 1024 }')
echo "VmRSS $rss_mb MB after 2 s idle"
echo

echo "== wrk -t$threads -c$connections -d$duration --latency /health"
wrk -t"$threads" -c"$connections" -d"$duration" --latency "http://127.0.0.1:$port/health" | tee "$tmp/wrk.txt"
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
latency_avg=$(awk '$1 == "Latency" { print $2; exit }' "$tmp/wrk.txt")
p50=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.txt")
p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")
errors=$(grep -E '^ +(Non-2xx|Socket errors)' "$tmp/wrk.txt" || true)
rss_after_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status")
rss_after_mb=$(awk -v kb="$rss_after_kb" 'BEGIN { printf "%.1f", kb / 1024 }')

kill -TERM "$server_pid"
wait "$server_pid" || die "server exited non-zero after SIGTERM"
server_pid=

verdict() { awk -v value="$1" -v limit="$2" 'BEGIN { print (value <= limit ? "ok" : "MISSED") }'; }
echo
echo "== summary"
printf '  %-28s %s\n' \
  "launch to ready (median)" "$launch_median ms   target <= 100 ms: $(verdict "$launch_median" 100)" \
  "idle RSS" "$rss_mb MB   target <= 20 MB: $(verdict "$rss_mb" 20)" \
  "RSS after load" "$rss_after_mb MB" \
  "/health throughput" "$rps req/s (wrk -t$threads -c$connections -d$duration)" \
  "latency avg / p50 / p99" "$latency_avg / $p50 / $p99" \
  "SIGTERM to exit (median)" "$stop_median ms"
if [[ -n "$errors" ]]; then
  echo "  wrk reported errors:"
  echo "$errors"
fi

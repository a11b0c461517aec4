# Shared by the bench scripts (sourced, not run): failing, tool checks, the binary, a free port.

die() { echo "bench: $*" >&2; exit 1; }

# require TOOL…: each must be on PATH; wrk gets an install hint.
require() {
  local tool
  for tool in "$@"; do
    if [[ "$tool" == wrk ]]; then
      command -v wrk >/dev/null || die "wrk is required (Debian/Ubuntu: apt-get install -y wrk)"
    else
      command -v "$tool" >/dev/null || die "$tool is required"
    fi
  done
}

# Sets ORBIT_BIN to an absolute path: as given, or a fresh release build of the repo at $1.
release_binary() {
  if [[ -z "${ORBIT_BIN:-}" ]]; then
    (cd "$1" && cargo build --release --bin orbit)
    ORBIT_BIN=$1/target/release/orbit
  fi
  ORBIT_BIN=$(realpath "$ORBIT_BIN")
  [[ -x "$ORBIT_BIN" ]] || die "no executable at $ORBIT_BIN"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_server PID: SIGTERM and wait, if it still runs.
stop_server() {
  if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# wait_for_health PID PORT LOG: until /health answers (10 s at most); shows LOG if PID exits.
wait_for_health() {
  local _
  for _ in $(seq 1 1000); do
    curl -fsS -o /dev/null "http://127.0.0.1:$2/health" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { cat "$3" >&2; die "server exited"; }
    sleep 0.01
  done
  die "server not ready after 10 s"
}

# The knobs of the Postgres benches (see their headers).
admin_url=${BENCH_POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}
pool_size=${BENCH_POOL_SIZE:-10}
sslmode=${BENCH_SSLMODE:-disable}
# Extra VAR=value settings for the server a bench starts.
server_env=()
# Extra VAR=value settings for the next launch_server only (a variant of the same server).
launch_env=()

# start_postgres_server: a scratch database `orbit_bench_<pid>` on $admin_url, migrated, and
# the server on a free port in development mode (for the dev routes the benches sign in and
# seed with; the rest is production-like). Sets database, tmp, port, base and server_pid;
# cleans everything up on exit.
start_postgres_server() {
  database=orbit_bench_$$
  tmp=$(mktemp -d)
  server_pid=
  trap 'stop_server "$server_pid"; psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
  psql -q "$admin_url" -c "CREATE DATABASE $database" >/dev/null || die "cannot create $database"
  database_url="${admin_url%/*}/$database?sslmode=$sslmode"
  # The server's whole environment, then the binary (run under `env -i`).
  server_command=(PATH="$PATH" HOME="$HOME"
    APP_ENV=development
    DATABASE_URL="$database_url"
    DATABASE_POOL_SIZE="$pool_size"
    AUTH_SECRET=bench-secret-0123456789abcdef0123456789abcdef
    LOG_FORMAT=json
    RUST_LOG=warn
    "${server_env[@]}"
    "$ORBIT_BIN")
  echo "binary:   $ORBIT_BIN"
  echo "database: $database on ${admin_url%/*} (pool $pool_size, sslmode=$sslmode)"
  echo
  (cd "$tmp" && exec env -i "${server_command[@]}" migrate up) >"$tmp/migrate.log" 2>&1 \
    || { cat "$tmp/migrate.log" >&2; die "migrate up failed"; }
  port=$(free_port)
  base="http://127.0.0.1:$port"
  launch_server "$port" "$tmp/server.log"
  server_pid=$launched_pid
}

# start_another_instance: a second server on the same database (for the multi-instance
# benches); sets port2, base2 and server_pid2, stopped on exit with the first.
start_another_instance() {
  port2=$(free_port)
  base2="http://127.0.0.1:$port2"
  launch_server "$port2" "$tmp/server2.log"
  server_pid2=$launched_pid
  trap 'stop_server "$server_pid2"; stop_server "$server_pid"; psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
}

# launch_server PORT LOG: the server on PORT with the benches' settings, once /health
# answers; sets launched_pid.
launch_server() {
  (cd "$tmp" && exec env -i PORT="$1" "${launch_env[@]}" "${server_command[@]}") >"$2" 2>&1 &
  launched_pid=$!
  wait_for_health "$launched_pid" "$1" "$2"
}

# sign_in EMAIL: prints the session cookie of EMAIL, signed in through the magic link.
sign_in() {
  local cookie link
  curl -fsS -X POST "$base/v1/auth/sign-in/magic-link" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\"}" >/dev/null
  link=$(curl -fsS "$base/v1/dev/last-magic-link?email=$1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["link"])')
  cookie=$(curl -fsS -o /dev/null -D - "${link/http:\/\/localhost:4002/$base}" \
    | tr -d '\r' | sed -n 's/^set-cookie: \(better-auth.session_token=[^;]*\).*/\1/Ip')
  [[ -n "$cookie" ]] || die "no session cookie for $1"
  echo "$cookie"
}

# load PATH COOKIE: wrk against PATH with COOKIE; sets rps, p50, p99 (fails on any non-2xx).
load() {
  echo "== wrk -t$threads -c$connections -d$duration --latency $1"
  wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "Cookie: $2" "$base$1" \
    | tee "$tmp/wrk.txt"
  if grep -qE '^ +Non-2xx' "$tmp/wrk.txt"; then die "$1 answered non-2xx under load"; fi
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
  p50=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.txt")
  p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")
  echo
}

# Sets `server` (scheme://user@host:port), `query` (?… or empty) and `admin_url` (the server's
# `postgres` database) from $DATABASE_URL, else the local Postgres; fails when it is not up.
postgres_server() {
  local url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} base
  query=
  [[ "$url" == *\?* ]] && query="?${url#*\?}"
  base=${url%%\?*}
  server=${base%/*}
  admin_url="$server/postgres$query"
  psql -q "$admin_url" -c 'SELECT 1' >/dev/null || die "cannot reach Postgres at $server"
}

# start_otlp_sink: bench/otlp-sink.py on a free port (its log $tmp/sink.log), stopped on exit
# with the server and the scratch database; sets sink_port and observing_variants (off first,
# then BENCH_VARIANTS or all of them).
start_otlp_sink() {
  sink_port=$(free_port)
  python3 "$root/bench/otlp-sink.py" "$sink_port" >"$tmp/sink.log" 2>&1 &
  sink_pid=$!
  trap 'kill "$sink_pid" 2>/dev/null || true; stop_server "$server_pid"; psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
  read -r -a observing_variants <<<"off ${BENCH_VARIANTS:-metrics metrics+traces metrics+traces-10% metrics+traces-none}"
}

# observing_settings VARIANT: sets `settings` to the server's VAR=value settings for one of
# the ways of observing (metrics on, spans exported to the sink, sampled or not).
observing_settings() {
  local metrics=METRICS_TOKEN=bench-metrics-token-0123456789
  local traces=OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port"
  case $1 in
    off) settings=() ;;
    metrics) settings=("$metrics") ;;
    metrics+traces) settings=("$metrics" "$traces") ;;
    metrics+traces-10%) settings=("$metrics" "$traces"
      OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1) ;;
    metrics+traces-none) settings=("$metrics" "$traces" OTEL_TRACES_SAMPLER=always_off) ;;
    *) die "unknown variant $1 (off, metrics, metrics+traces, metrics+traces-10%, metrics+traces-none)" ;;
  esac
}

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

#!/usr/bin/env bash
# Background-job queues on Postgres: apalis 1.0 (apalis-postgres), graphile_worker 0.14 and a
# minimal queue of our own (bench/jobs-bench/src/own.rs), then the queue the app runs
# (bench/jobs-orbit.sh). Enqueue rate, processing rate of no-op jobs, enqueue→start latency on
# an idle queue. See bench/README.md, "Jobs queue".
#
#   bench/jobs.sh                                   # Postgres at 127.0.0.1:5432, user postgres
#   bench/jobs.sh orbit                             # only the app's queue
#   DATABASE_URL=postgres://user@host:5432/any bench/jobs.sh   # same, on that server
#   JOBS_BENCH_BIN=…/jobs-bench bench/jobs.sh       # skip the build
#
# Creates throwaway databases jobsbench_<candidate>_<pid> (dropped on exit). Needs psql, cargo.
# Every run is bounded (process: ≤ 60 s, the default graphile mode ≤ 10 s; latency ≈ 6 s).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
command -v psql >/dev/null || die "psql is required"
if [[ "${1:-all}" == orbit ]]; then
  exec "$here/jobs-orbit.sh"
fi


# The server: $DATABASE_URL's, else the local one (bench/lib.sh).
postgres_server

if [[ -z "${JOBS_BENCH_BIN:-}" ]]; then
  (cd "$here/jobs-bench" && cargo build --release --quiet)
  JOBS_BENCH_BIN=$here/jobs-bench/target/release/jobs-bench
fi
[[ -x "$JOBS_BENCH_BIN" ]] || die "no executable at $JOBS_BENCH_BIN"

candidates=(apalis graphile own)
log=$(mktemp)
cleanup() {
  for c in "${candidates[@]}"; do
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS jobsbench_${c}_$$ WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -f "$log"
}
trap cleanup EXIT

# run CANDIDATE MEASURE [OPTIONS…]: one bounded run; its RESULT line goes to $log.
run() {
  local c=$1
  shift
  echo "== $c $*" >&2
  DATABASE_URL="$server/jobsbench_${c}_$$$query" timeout 150 "$JOBS_BENCH_BIN" "$c" "$@" | tee -a "$log"
}

for c in "${candidates[@]}"; do
  psql -q "$admin_url" -c "CREATE DATABASE jobsbench_${c}_$$" >/dev/null
  run "$c" setup
done

# 1. Enqueue: BEGIN; enqueue; COMMIT — 1 job or 100 jobs per transaction, 1 or 16 tasks, 2 s each.
for c in "${candidates[@]}"; do run "$c" enqueue --seconds 2 --tasks 16 --batch 100; done

# 2. Processing 50,000 pre-filled no-op jobs. `fetch` = jobs claimed per query (apalis
#    Config::batch_size, graphile LocalQueue size, own claim batch); `workers` apalis workers.
run apalis process --concurrency 8 --fetch 10          # apalis defaults (batch_size 10)
for n in 8 32 64; do run apalis process --concurrency $n --fetch 500; done
run apalis process --concurrency 32 --fetch 500 --workers 2
run graphile process --concurrency 8 --limit-secs 10   # graphile defaults (no LocalQueue)
for n in 8 32 64; do run graphile process --concurrency $n --fetch 500 --tuned; done
for n in 8 32 64; do run own process --concurrency $n --fetch 500; done

# 3. Enqueue→start latency: idle worker (concurrency 8), 500 jobs 10 ms apart.
for c in "${candidates[@]}"; do run "$c" latency --concurrency 8 --count 500 --interval-ms 10; done

# Summary table.
echo
python3 - "$log" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "):
        continue
    _, cand, measure, *kv = line.split()
    d = dict(x.split("=", 1) for x in kv if "=" in x)
    r = rows.setdefault(cand, {"process": []})
    if measure == "process":
        r["process"].append(d)
    else:
        r[measure] = d
def cfg(cand, p):
    s = f"c={p['concurrency']}"
    if cand != "graphile" or p.get("tuned") == "true": s += f", fetch {p['fetch']}"
    if p.get("workers", "1") != "1": s += f", {p['workers']} workers"
    if p.get("tuned") == "true": s += ", LocalQueue + batched completion"
    if p.get("done") != "true": s += f", NOT drained in {float(p['secs']):.0f} s"
    return s
hdr = ["", "enqueue 1/tx seq", "1/tx x16", "100/tx seq", "100/tx x16", "process (best)", "best config", "default config", "latency p50", "p99"]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" for _ in hdr) + "|")
for cand in ["apalis", "graphile", "own"]:
    r = rows.get(cand, {"process": []})
    e = r.get("enqueue", {})
    ps = r["process"]
    best = max(ps, key=lambda p: float(p["rate"]), default=None)
    first = ps[0] if ps else None
    l = r.get("latency", {})
    print("| " + " | ".join([
        cand,
        e.get("single_seq", "-"), e.get("single_conc", "-"), e.get("batch_seq", "-"), e.get("batch_conc", "-"),
        best["rate"] if best else "-", cfg(cand, best) if best else "-",
        f"{first['rate']} ({cfg(cand, first)})" if first else "-",
        l.get("p50_ms", "-") + " ms", l.get("p99_ms", "-") + " ms",
    ]) + " |")
print("\nrates in jobs/s; targets: >= 10,000 jobs/s processed, p99 enqueue->start <= 50 ms")
EOF

"$here/jobs-orbit.sh"

//! Background-job queue benchmark on Postgres: apalis 1.0 (apalis-postgres), graphile_worker 0.14
//! and a minimal queue of our own (`own`, see `own.rs`). Driven by `bench/jobs.sh`.
//!
//! ```text
//! DATABASE_URL=postgres://… jobs-bench <apalis|graphile|own> <setup|enqueue|process|latency> [options]
//!   enqueue: --seconds 2 --tasks 16 --batch 100
//!   process: --jobs 50000 --concurrency 8 --fetch 100 [--tuned] [--workers 1] [--limit-secs 60]
//!   latency: --count 500 --interval-ms 10 --concurrency 8
//! ```
//! Every measurement prints one `RESULT <candidate> <measure> key=value…` line for the script.
//! Every enqueue happens inside a transaction the caller opened (`pool.begin()`), as the app will.

mod own;

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Job sequence numbers below this record their start time (latency test).
const LAT_MAX: usize = 10_000;
/// Jobs of the throughput tests use sequence numbers from here on (no latency record).
const BULK_SEQ: u64 = 1 << 40;

/// Shared by every handler: a started counter and per-job commit/start timestamps.
struct Probe {
    base: Instant,
    started: AtomicU64,
    commit_us: Vec<AtomicU64>,
    start_us: Vec<AtomicU64>,
}

fn probe() -> &'static Probe {
    static P: OnceLock<Probe> = OnceLock::new();
    P.get_or_init(|| Probe {
        base: Instant::now(),
        started: AtomicU64::new(0),
        commit_us: (0..LAT_MAX).map(|_| AtomicU64::new(0)).collect(),
        start_us: (0..LAT_MAX).map(|_| AtomicU64::new(0)).collect(),
    })
}

impl Probe {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64 + 1
    }
    /// Called first thing by every handler.
    fn hit(&self, seq: u64) {
        if (seq as usize) < LAT_MAX {
            let _ = self.start_us[seq as usize].compare_exchange(
                0,
                self.now_us(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        self.started.fetch_add(1, Ordering::SeqCst);
    }
}

/// The job payload of every candidate.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Noop {
    pub seq: u64,
}

// ---------------------------------------------------------------- apalis 1.0 + apalis-postgres
mod apalis_c {
    use super::*;
    use apalis::prelude::*;
    use apalis_postgres::{Config, PostgresStorage};

    pub const QUEUE: &str = "bench";

    async fn noop(job: Noop) -> Result<(), BoxDynError> {
        probe().hit(job.seq);
        Ok(())
    }

    pub async fn setup(pool: &PgPool) -> Result<(), BoxError> {
        PostgresStorage::setup(pool).await?;
        Ok(())
    }

    pub async fn reset(pool: &PgPool) -> Result<(), BoxError> {
        sqlx::query("TRUNCATE apalis.jobs CASCADE").execute(pool).await?;
        Ok(())
    }

    pub async fn remaining(pool: &PgPool) -> Result<i64, BoxError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status <> 'Done'",
        )
        .bind(QUEUE)
        .fetch_one(pool)
        .await?)
    }

    /// Enqueue inside the caller's transaction: `apalis_postgres::queries::push_tasks`
    /// takes any executor (one multi-row INSERT … SELECT unnest(…); a trigger NOTIFYs).
    pub async fn enqueue(tx: &mut Transaction<'_, Postgres>, seqs: &[u64]) -> Result<(), BoxError> {
        let tasks = seqs
            .iter()
            .map(|&seq| TaskBuilder::new(serde_json::to_vec(&Noop { seq }).unwrap()).build())
            .collect();
        apalis_postgres::queries::push_tasks(&mut **tx, QUEUE, tasks).await?;
        Ok(())
    }

    pub struct Running {
        ctxs: Vec<WorkerContext>,
        handles: Vec<tokio::task::JoinHandle<Result<(), WorkerError>>>,
    }

    pub async fn start(pool: &PgPool, workers: usize, concurrency: usize, fetch: usize) -> Running {
        let mut ctxs = Vec::new();
        let mut handles = Vec::new();
        let stamp = probe().now_us();
        for w in 0..workers {
            let ctx = WorkerContext::new(&format!("bench-{}-{stamp}-{w}", std::process::id()));
            let config = Config::default().queue(QUEUE).batch_size(fetch);
            let backend = PostgresStorage::<Noop>::new(pool)
                .with_config(config)
                .with_pubsub()
                .poll_with_interval(Duration::from_secs(1));
            let worker = WorkerBuilder::new(&ctx)
                .backend(backend)
                .concurrency(concurrency)
                .build(noop);
            handles.push(tokio::spawn(worker.run()));
            ctxs.push(ctx);
        }
        Running { ctxs, handles }
    }

    impl Running {
        pub async fn stop(self) {
            for ctx in &self.ctxs {
                let _ = ctx.stop();
            }
            for h in self.handles {
                match tokio::time::timeout(Duration::from_secs(10), h).await {
                    Ok(Ok(Err(e))) => eprintln!("apalis worker error: {e}"),
                    Err(_) => eprintln!("apalis worker did not stop within 10 s"),
                    _ => {}
                }
            }
        }
    }
}

// ---------------------------------------------------------------- graphile_worker 0.14
mod graphile_c {
    use super::*;
    use graphile_worker::{
        IntoTaskHandlerResult, JobSpec, LocalQueueConfig, TaskHandler, Worker, WorkerContext,
        WorkerOptions, WorkerUtils,
    };

    pub const SCHEMA: &str = "graphile_worker";

    impl TaskHandler for Noop {
        const IDENTIFIER: &'static str = "noop";
        async fn run(self, _ctx: WorkerContext) -> impl IntoTaskHandlerResult {
            probe().hit(self.seq);
            Ok::<(), String>(())
        }
    }

    pub fn utils(pool: &PgPool) -> WorkerUtils {
        WorkerUtils::new(pool.clone(), SCHEMA)
    }

    pub async fn setup(pool: &PgPool) -> Result<(), BoxError> {
        utils(pool).migrate().await?;
        Ok(())
    }

    pub async fn reset(pool: &PgPool) -> Result<(), BoxError> {
        sqlx::query("DELETE FROM graphile_worker._private_jobs").execute(pool).await?;
        Ok(())
    }

    pub async fn remaining(pool: &PgPool) -> Result<i64, BoxError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM graphile_worker._private_jobs")
            .fetch_one(pool)
            .await?)
    }

    /// Enqueue inside the caller's transaction: `WorkerUtils::with_executor(&mut tx)`
    /// (calls the schema's add_job/add_jobs SQL functions, which NOTIFY `jobs:insert`).
    pub async fn enqueue(
        utils: &WorkerUtils,
        tx: &mut Transaction<'_, Postgres>,
        seqs: &[u64],
    ) -> Result<(), BoxError> {
        let mut u = utils.clone().with_executor(&mut *tx);
        if seqs.len() == 1 {
            u.add_job(Noop { seq: seqs[0] }, JobSpec::default()).await?;
        } else {
            let spec = JobSpec::default();
            let jobs: Vec<(Noop, &JobSpec)> =
                seqs.iter().map(|&seq| (Noop { seq }, &spec)).collect();
            u.add_jobs(&jobs).await?;
        }
        Ok(())
    }

    pub struct Running {
        worker: Arc<Worker>,
        handle: tokio::task::JoinHandle<()>,
    }

    /// `tuned`: the LocalQueue (batch claim of `fetch` jobs) and batched completions (5 ms).
    pub async fn start(
        pool: &PgPool,
        concurrency: usize,
        fetch: usize,
        tuned: bool,
    ) -> Result<Running, BoxError> {
        let mut opts = WorkerOptions::default()
            .pg_pool(pool.clone())
            .schema(SCHEMA)
            .concurrency(concurrency)
            .listen_os_shutdown_signals(false)
            .define_job::<Noop>();
        if tuned {
            opts = opts
                .local_queue(LocalQueueConfig::default().with_size(fetch))
                .complete_job_batch_delay(Duration::from_millis(5));
        }
        let worker = Arc::new(opts.init().await?);
        let w = worker.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = w.run().await {
                eprintln!("graphile worker error: {e}");
            }
        });
        Ok(Running { worker, handle })
    }

    impl Running {
        pub async fn stop(self) {
            self.worker.request_shutdown();
            if tokio::time::timeout(Duration::from_secs(10), self.handle).await.is_err() {
                eprintln!("graphile worker did not stop within 10 s");
            }
        }
    }
}

// ---------------------------------------------------------------- dispatch

#[derive(Clone, Copy, PartialEq)]
enum Cand {
    Apalis,
    Graphile,
    Own,
}

struct Ctx {
    cand: Cand,
    pool: PgPool,
    graphile: graphile_worker::WorkerUtils,
}

enum Running {
    Apalis(apalis_c::Running),
    Graphile(graphile_c::Running),
    Own(own::Running),
}

impl Running {
    async fn stop(self) {
        match self {
            Running::Apalis(r) => r.stop().await,
            Running::Graphile(r) => r.stop().await,
            Running::Own(r) => r.stop().await,
        }
    }
}

struct WorkerOpts {
    concurrency: usize,
    fetch: usize,
    workers: usize,
    tuned: bool,
}

impl Ctx {
    async fn setup(&self) -> Result<(), BoxError> {
        match self.cand {
            Cand::Apalis => apalis_c::setup(&self.pool).await,
            Cand::Graphile => graphile_c::setup(&self.pool).await,
            Cand::Own => own::setup(&self.pool).await,
        }
    }
    async fn reset(&self) -> Result<(), BoxError> {
        match self.cand {
            Cand::Apalis => apalis_c::reset(&self.pool).await,
            Cand::Graphile => graphile_c::reset(&self.pool).await,
            Cand::Own => own::reset(&self.pool).await,
        }
    }
    async fn remaining(&self) -> Result<i64, BoxError> {
        match self.cand {
            Cand::Apalis => apalis_c::remaining(&self.pool).await,
            Cand::Graphile => graphile_c::remaining(&self.pool).await,
            Cand::Own => own::remaining(&self.pool).await,
        }
    }
    async fn enqueue(&self, tx: &mut Transaction<'_, Postgres>, seqs: &[u64]) -> Result<(), BoxError> {
        match self.cand {
            Cand::Apalis => apalis_c::enqueue(tx, seqs).await,
            Cand::Graphile => graphile_c::enqueue(&self.graphile, tx, seqs).await,
            Cand::Own => own::enqueue(tx, seqs).await,
        }
    }
    /// One transaction: BEGIN, enqueue, COMMIT.
    async fn enqueue_tx(&self, seqs: &[u64]) -> Result<(), BoxError> {
        let mut tx = self.pool.begin().await?;
        self.enqueue(&mut tx, seqs).await?;
        tx.commit().await?;
        Ok(())
    }
    async fn start(&self, worker_pool: &PgPool, o: &WorkerOpts) -> Result<Running, BoxError> {
        Ok(match self.cand {
            Cand::Apalis => Running::Apalis(
                apalis_c::start(worker_pool, o.workers, o.concurrency, o.fetch).await,
            ),
            Cand::Graphile => Running::Graphile(
                graphile_c::start(worker_pool, o.concurrency, o.fetch, o.tuned).await?,
            ),
            Cand::Own => {
                Running::Own(own::start(worker_pool, o.concurrency, o.fetch, 30).await?)
            }
        })
    }
}

/// `tasks` concurrent loops of BEGIN; enqueue `per_tx` jobs; COMMIT for `secs`. Jobs/s.
async fn enqueue_rate(ctx: &Arc<Ctx>, tasks: usize, per_tx: usize, secs: f64) -> Result<f64, BoxError> {
    let total = Arc::new(AtomicU64::new(0));
    let next_seq = Arc::new(AtomicU64::new(BULK_SEQ));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (ctx, total, next_seq) = (ctx.clone(), total.clone(), next_seq.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let first = next_seq.fetch_add(per_tx as u64, Ordering::Relaxed);
                let seqs: Vec<u64> = (first..first + per_tx as u64).collect();
                ctx.enqueue_tx(&seqs).await?;
                total.fetch_add(per_tx as u64, Ordering::Relaxed);
            }
            Ok::<(), BoxError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

async fn measure_enqueue(ctx: &Arc<Ctx>, secs: f64, tasks: usize, batch: usize) -> Result<(), BoxError> {
    let mut out = String::new();
    for (name, t, b) in [
        ("single_seq", 1, 1),
        ("single_conc", tasks, 1),
        ("batch_seq", 1, batch),
        ("batch_conc", tasks, batch),
    ] {
        ctx.reset().await?;
        let rate = enqueue_rate(ctx, t, b, secs).await?;
        eprintln!("  enqueue {name:<11} ({t} task(s), {b}/tx): {rate:>9.0} jobs/s");
        out += &format!(" {name}={rate:.0}");
    }
    ctx.reset().await?;
    println!("RESULT {} enqueue{out} tasks={tasks} batch={batch}", cand_name(ctx.cand));
    Ok(())
}

async fn measure_process(
    ctx: &Arc<Ctx>,
    worker_pool: &PgPool,
    jobs: usize,
    limit: Duration,
    o: &WorkerOpts,
) -> Result<(), BoxError> {
    ctx.reset().await?;
    // Pre-fill: batches of 1000 from 4 tasks, at most `jobs` and at most ~30 s.
    let fill_start = Instant::now();
    let filled = Arc::new(AtomicU64::new(0));
    let mut hs = Vec::new();
    for _ in 0..4 {
        let (ctx, filled) = (ctx.clone(), filled.clone());
        hs.push(tokio::spawn(async move {
            loop {
                let first = filled.fetch_add(1000, Ordering::SeqCst);
                if first >= jobs as u64 || fill_start.elapsed() > Duration::from_secs(30) {
                    filled.fetch_sub(1000, Ordering::SeqCst);
                    break;
                }
                let n = (jobs as u64 - first).min(1000);
                if n < 1000 {
                    filled.fetch_sub(1000 - n, Ordering::SeqCst);
                }
                let seqs: Vec<u64> = (BULK_SEQ + first..BULK_SEQ + first + n).collect();
                ctx.enqueue_tx(&seqs).await?;
            }
            Ok::<(), BoxError>(())
        }));
    }
    for h in hs {
        h.await??;
    }
    let n = ctx.remaining().await? as u64;
    sqlx::query("ANALYZE").execute(&ctx.pool).await?;
    eprintln!("  pre-filled {n} jobs in {:.1} s", fill_start.elapsed().as_secs_f64());

    let p = probe();
    p.started.store(0, Ordering::SeqCst);
    let running = ctx.start(worker_pool, o).await?;
    let t0 = Instant::now();
    let mut done = false;
    while t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if p.started.load(Ordering::SeqCst) >= n && ctx.remaining().await? == 0 {
            done = true;
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let started = p.started.load(Ordering::SeqCst);
    running.stop().await;
    let rate = if done { n as f64 / secs } else { started as f64 / secs };
    eprintln!(
        "  processed {started}/{n} in {secs:.2} s: {rate:.0} jobs/s{}",
        if done { "" } else { " (TIMEOUT, handler starts/s)" }
    );
    println!(
        "RESULT {} process rate={rate:.0} jobs={n} secs={secs:.2} done={done} concurrency={} fetch={} workers={} tuned={}",
        cand_name(ctx.cand),
        o.concurrency,
        o.fetch,
        o.workers,
        o.tuned
    );
    ctx.reset().await?;
    Ok(())
}

async fn measure_latency(
    ctx: &Arc<Ctx>,
    worker_pool: &PgPool,
    count: usize,
    interval: Duration,
    o: &WorkerOpts,
) -> Result<(), BoxError> {
    let count = count.min(LAT_MAX);
    ctx.reset().await?;
    let p = probe();
    for i in 0..count {
        p.commit_us[i].store(0, Ordering::SeqCst);
        p.start_us[i].store(0, Ordering::SeqCst);
    }
    let running = ctx.start(worker_pool, o).await?;
    tokio::time::sleep(Duration::from_secs(1)).await; // idle, listeners connected
    p.started.store(0, Ordering::SeqCst);
    let t0 = Instant::now();
    for i in 0..count {
        let mut tx = ctx.pool.begin().await?;
        ctx.enqueue(&mut tx, &[i as u64]).await?;
        // Taken just before COMMIT (conservative: includes the COMMIT round trip).
        p.commit_us[i].store(p.now_us(), Ordering::SeqCst);
        tx.commit().await?;
        tokio::time::sleep_until((t0 + interval * (i as u32 + 1)).into()).await;
    }
    let wait = Instant::now();
    while (p.started.load(Ordering::SeqCst) as usize) < count && wait.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.stop().await;
    let mut lats: Vec<f64> = (0..count)
        .filter_map(|i| {
            let (c, s) = (p.commit_us[i].load(Ordering::SeqCst), p.start_us[i].load(Ordering::SeqCst));
            (s != 0).then(|| s.saturating_sub(c) as f64 / 1000.0)
        })
        .collect();
    lats.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let missing = count - lats.len();
    let pct = |q: f64| -> f64 {
        if lats.is_empty() {
            return f64::NAN;
        }
        lats[((q * lats.len() as f64).ceil() as usize).clamp(1, lats.len()) - 1]
    };
    let (p50, p99, max) = (pct(0.50), pct(0.99), pct(1.0));
    eprintln!("  latency over {count} jobs: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, missing {missing}");
    println!(
        "RESULT {} latency p50_ms={p50:.2} p99_ms={p99:.2} max_ms={max:.2} missing={missing} count={count} concurrency={}",
        cand_name(ctx.cand),
        o.concurrency
    );
    ctx.reset().await?;
    Ok(())
}

fn cand_name(c: Cand) -> &'static str {
    match c {
        Cand::Apalis => "apalis",
        Cand::Graphile => "graphile",
        Cand::Own => "own",
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: DATABASE_URL=… jobs-bench <apalis|graphile|own> <setup|enqueue|process|latency> \
         [--seconds S] [--tasks N] [--batch N] [--jobs N] [--concurrency N] [--fetch N] \
         [--workers N] [--tuned] [--limit-secs S] [--count N] [--interval-ms MS]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        usage();
    }
    let cand = match args[0].as_str() {
        "apalis" => Cand::Apalis,
        "graphile" => Cand::Graphile,
        "own" => Cand::Own,
        _ => usage(),
    };
    let measure = args[1].clone();
    let mut opt = std::collections::HashMap::new();
    let mut tuned = false;
    let mut it = args[2..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--tuned" => tuned = true,
            k if k.starts_with("--") => {
                let v = it.next().unwrap_or_else(|| usage());
                opt.insert(k.trim_start_matches("--").to_string(), v.clone());
            }
            _ => usage(),
        }
    }
    let num = |k: &str, d: f64| -> f64 { opt.get(k).map(|v| v.parse().unwrap_or_else(|_| usage())).unwrap_or(d) };

    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    // Enqueue side (the "app"): 20 connections. Worker side: its own pool.
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&url)
        .await?;
    let concurrency = num("concurrency", 8.0) as usize;
    let worker_pool = PgPoolOptions::new()
        .max_connections((concurrency as u32 + 4).clamp(10, 40))
        .acquire_timeout(Duration::from_secs(30))
        .connect(&url)
        .await?;
    let ctx = Arc::new(Ctx {
        cand,
        graphile: graphile_c::utils(&pool),
        pool,
    });
    let o = WorkerOpts {
        concurrency,
        fetch: num("fetch", 100.0) as usize,
        workers: num("workers", 1.0) as usize,
        tuned,
    };
    probe();
    let r = async {
        match measure.as_str() {
            "setup" => {
                ctx.setup().await?;
                ctx.reset().await?;
                println!("RESULT {} setup ok", cand_name(cand));
                Ok(())
            }
            "enqueue" => {
                measure_enqueue(&ctx, num("seconds", 2.0), num("tasks", 16.0) as usize, num("batch", 100.0) as usize)
                    .await
            }
            "process" => {
                let limit = Duration::from_secs_f64(num("limit-secs", 60.0));
                measure_process(&ctx, &worker_pool, num("jobs", 50_000.0) as usize, limit, &o).await
            }
            "latency" => {
                measure_latency(
                    &ctx,
                    &worker_pool,
                    num("count", 500.0) as usize,
                    Duration::from_millis(num("interval-ms", 10.0) as u64),
                    &o,
                )
                .await
            }
            _ => usage(),
        }
    }
    .await;
    if let Err(e) = &r {
        eprintln!("jobs-bench {} {measure}: error: {e}", cand_name(cand));
    }
    r
}

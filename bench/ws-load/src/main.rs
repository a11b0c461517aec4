//! WebSocket load client for `bench/realtime.sh`: opens `SOCKETS` sockets to one workspace as
//! one member (spread evenly over the instances named), then triggers `ROUNDS` broadcasts (a
//! role created through the API) and measures how long each takes to reach every socket.
//! Loopback only; every wait is bounded.
//!
//! Environment: `WS_URLS` (comma-separated `ws://127.0.0.1:PORT/v1/ws?workspace=SLUG`, one per
//! instance), `COOKIE`, `API` (`127.0.0.1:PORT`), `SLUG`, `SOCKETS` (10000), `CONCURRENCY`
//! (200), `ROUNDS` (20), `SERVER_PIDS` (comma-separated, to read the servers' RSS).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn number(name: &str, default: usize) -> usize {
    var(name, &default.to_string()).parse().expect("a number")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) the process has used, from /proc (clock ticks of 10 ms).
fn cpu_ms(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

/// One socket: connects, waits for `hello`, reports its connect time, then reports when each
/// round's role arrives (the role name carries the round).
async fn socket(
    url: String,
    cookie: String,
    connected: mpsc::UnboundedSender<Duration>,
    arrivals: mpsc::UnboundedSender<(usize, Instant)>,
    permits: Arc<Semaphore>,
) {
    let permit = permits.acquire_owned().await.expect("never closed");
    let started = Instant::now();
    let mut request = url.into_client_request().expect("a ws:// URL");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("a cookie"));
    let (mut ws, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(ws) => ws,
        Err(err) => panic!("connect: {err}"),
    };
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message
            && text.contains("\"hello\"")
        {
            break;
        }
    }
    connected.send(started.elapsed()).expect("main waits");
    drop(permit);
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message
            && text.contains("workspace.role.created")
            && let Some(round) = text
                .split("bench-round-")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|round| round.parse().ok())
        {
            let _ = arrivals.send((round, Instant::now()));
        }
    }
}

/// Creates the role `bench-round-N` with a raw HTTP/1.1 request (no client library needed).
async fn trigger(api: &str, slug: &str, cookie: &str, round: usize) {
    let body = format!(r#"{{"name":"bench-round-{round}","permissions":[]}}"#);
    let request = format!(
        "POST /v1/workspaces/{slug}/roles HTTP/1.1\r\nHost: {api}\r\nCookie: {cookie}\r\n\
         Origin: http://localhost:4001\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(api).await.expect("the API answers");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
}

#[tokio::main]
async fn main() {
    let urls: Vec<String> = var("WS_URLS", "").split(',').map(str::to_owned).collect();
    let cookie = var("COOKIE", "");
    let api = var("API", "");
    let slug = var("SLUG", "bench");
    let sockets = number("SOCKETS", 10_000);
    let rounds = number("ROUNDS", 20);
    let server_pids = var("SERVER_PIDS", "");
    let rss = || -> Option<u64> { server_pids.split(',').map(rss_kib).sum() };
    let before = rss();

    let permits = Arc::new(Semaphore::new(number("CONCURRENCY", 200)));
    let (connected_tx, mut connected) = mpsc::unbounded_channel();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let started = Instant::now();
    for index in 0..sockets {
        tokio::spawn(socket(
            urls[index % urls.len()].clone(),
            cookie.clone(),
            connected_tx.clone(),
            arrivals_tx.clone(),
            permits.clone(),
        ));
    }
    let mut connect_times = Vec::with_capacity(sockets);
    while connect_times.len() < sockets {
        let time = tokio::time::timeout(Duration::from_secs(60), connected.recv())
            .await
            .expect("every socket connects within a minute")
            .expect("senders live");
        connect_times.push(time);
    }
    let all_connected = started.elapsed();
    connect_times.sort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss();
    println!(
        "sockets:           {sockets} over {} instance(s)",
        urls.len()
    );
    println!(
        "connect:           all in {}, per socket p50 {} p99 {} (to hello)",
        ms(all_connected),
        ms(percentile(&connect_times, 0.5)),
        ms(percentile(&connect_times, 0.99))
    );
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "server RSS (all):   {:.1} MB before, {:.1} MB with the sockets: {:.1} KiB per socket",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            after.saturating_sub(before) as f64 / sockets as f64
        );
    }

    let cpu = || -> Option<(u64, u64)> {
        let servers = server_pids.split(',').map(cpu_ms).sum::<Option<u64>>()?;
        Some((servers, cpu_ms("self")?))
    };
    let cpu_before = cpu();
    let rounds_started = Instant::now();
    let mut last_socket = Vec::with_capacity(rounds);
    let mut every_socket = Vec::with_capacity(rounds * sockets);
    for round in 0..rounds {
        let sent = Instant::now();
        trigger(&api, &slug, &cookie, round).await;
        let mut received = 0;
        let mut latest = Duration::ZERO;
        while received < sockets {
            let (arrived_round, at) =
                tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
                    .await
                    .expect("every socket hears the broadcast within 30 s")
                    .expect("senders live");
            if arrived_round != round {
                continue;
            }
            let latency = at.duration_since(sent);
            every_socket.push(latency);
            latest = latest.max(latency);
            received += 1;
        }
        last_socket.push(latest);
    }
    let rounds_took = rounds_started.elapsed();
    last_socket.sort();
    every_socket.sort();
    if let (Some(before), Some(after)) = (cpu_before, cpu()) {
        println!(
            "CPU in the rounds:  server(s) {} ms, this client {} ms, over {} of wall time",
            after.0 - before.0,
            after.1 - before.1,
            ms(rounds_took)
        );
    }
    println!(
        "broadcast:         request → last socket p50 {} p99 {} ({rounds} rounds)",
        ms(percentile(&last_socket, 0.5)),
        ms(percentile(&last_socket, 0.99))
    );
    println!(
        "                   request → any socket p50 {} p99 {}",
        ms(percentile(&every_socket, 0.5)),
        ms(percentile(&every_socket, 0.99))
    );
}

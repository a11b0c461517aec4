//! Redis and NATS servers of a test's own, on a free port, so a test can stop and restart
//! them (and its messages meet no other test's). Started from the machine's `redis-server`
//! and `nats-server` (`.ci/run` installs them).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{free_port, skip};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Redis,
    Nats,
}

pub struct BusServer {
    kind: Kind,
    port: u16,
    child: Option<Child>,
}

impl BusServer {
    /// A running server; `None`, after [`skip`], when the machine has no such binary.
    pub fn start(kind: Kind) -> Option<Self> {
        let binary = binary(kind);
        let installed = Command::new(binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            skip(binary);
            return None;
        }
        let mut server = Self {
            kind,
            port: free_port(),
            child: None,
        };
        server.restart();
        Some(server)
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{}", self.port),
            Kind::Nats => format!("nats://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        let args: Vec<&str> = match self.kind {
            Kind::Redis => vec![
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            Kind::Nats => vec!["-a", "127.0.0.1", "-p", &port],
        };
        let child = Command::new(binary(self.kind))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = ([127, 0, 0, 1], self.port).into();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not start",
                binary(self.kind)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn binary(kind: Kind) -> &'static str {
    match kind {
        Kind::Redis => "redis-server",
        Kind::Nats => "nats-server",
    }
}

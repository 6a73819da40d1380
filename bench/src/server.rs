//! The server under test: `assistrtc-server` as a child process on loopback, stopped on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// How long the server may take to print its `listening on` line.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd server may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Server stderr lines echoed (prefixed `server:`); later ones are only counted.
const STDERR_ECHO_LINES: usize = 20;

/// A running `assistrtc-server`; SIGTERM (then SIGKILL) on drop.
pub(crate) struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `bin` on 127.0.0.1:0 and waits for its `listening on http://HOST:PORT` line.
    pub(crate) fn start(bin: &Path, api_key: &str, jwt_secret: &str) -> Result<Self, String> {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--api-key", api_key])
            .args(["--jwt-secret", jwt_secret])
            // The benchmark's receivers never send (no pings): keep their sessions through the run.
            .args(["--idle-timeout-ms", "3600000"])
            // Runs with --sessions above the default room cap must not be refused rooms.
            .args(["--max-rooms", "1000000"])
            // Every session comes from 127.0.0.1: lift the per-address and total connection caps.
            .args(["--max-connections", "1000000"])
            .args(["--max-connections-per-ip", "1000000"])
            // Info logs a line per room; keep warnings (e.g. slow connections dropped).
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        if let Some(stderr) = stderr {
            thread::spawn(move || echo_stderr(BufReader::new(stderr)));
        }
        let (line_tx, line_rx) = mpsc::channel();
        if let Some(stdout) = stdout {
            thread::spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = line_tx.send(lines.next());
                // Keep the pipe drained so the server never blocks on a write.
                for _ in lines {}
            });
        }
        let line = match line_rx.recv_timeout(LISTEN_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.child.try_wait().ok().flatten();
                return Err(format!(
                    "the server ended before announcing its address (exit: {status:?})"
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the server printed nothing within {LISTEN_TIMEOUT:?}"
                ));
            }
        };
        let addr: SocketAddr = line
            .strip_prefix("listening on http://")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("the server listens on {addr}, not on loopback"));
        }
        server.addr = addr;
        Ok(server)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set size in KiB, from `/proc/<pid>/status` `VmRSS`.
    pub(crate) fn rss_kib(&self) -> Result<u64, String> {
        rss_kib(&self.pid().to_string())
    }

    /// `Some(description)` if the server has exited.
    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = kill_process(Pid::from_child(&self.child), Signal::TERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!("server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of `/proc/<pid>/status` in KiB (`pid` may be `self`).
pub(crate) fn rss_kib(pid: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in {path}"))
}

fn echo_stderr(reader: impl BufRead) {
    let mut count = 0usize;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        count += 1;
        if count <= STDERR_ECHO_LINES {
            eprintln!("server: {line}");
        } else if count == STDERR_ECHO_LINES + 1 {
            eprintln!("server: (further server log lines are not shown)");
        }
    }
}

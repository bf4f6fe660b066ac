//! Helpers shared by the benchmarks: options from the environment, resident memory from /proc,
//! and `postload stub` in a child process.

#![allow(dead_code)] // each bench uses a different part

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A whole-number option from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of `pid` now and at its peak, in KiB (0 when unreadable).
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts `postload stub --port 0 --latency-ms 0 --mocks <mocks> <extra>` and returns the child
/// and its base URL (read from the `OPENAI_BASE_URL=` line it prints).
pub fn spawn_stub(mocks: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postload"))
        .args(["stub", "--port", "0", "--latency-ms", "0", "--mocks"])
        .arg(mocks)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postload stub");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line
        .trim()
        .trim_start_matches("OPENAI_BASE_URL=")
        .to_string();
    (child, base)
}

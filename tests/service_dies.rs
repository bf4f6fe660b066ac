//! Issue 25: a service that dies during the run. The preflight refuses a service that is down
//! before any load (tests/gate_trust.rs), so a connection refused can only come later: a
//! service that answered the preflight and its first posts, then went away. Those posts are
//! counted as `failed.connect`, named with their cause where a user looks, and fail the gate;
//! nothing panics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{read_result, tempdir};

/// Reads one HTTP/1.1 request (head, then a body of its Content-Length); its first line.
fn read_request(stream: &TcpStream) -> std::io::Result<String> {
    let mut r = BufReader::new(stream);
    let mut first = String::new();
    r.read_line(&mut first)?;
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len.min(1 << 20)];
    r.read_exact(&mut body)?;
    Ok(first)
}

/// A loopback service that answers the preflight (any request) and then `posts` posts with a
/// caption, one connection each (`Connection: close`), and then dies: its listener is closed
/// before the last answer is written, so once postload has that answer, every later connection
/// is refused. Its URL, and the first line of each request it read, in order.
fn dies_after(posts: usize) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut listener = Some(listener);
        for i in 0..=posts {
            let Ok((mut stream, _)) = listener.as_ref().unwrap().accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let Ok(first) = read_request(&stream) else {
                return;
            };
            log.lock().unwrap().push(first.trim_end().to_string());
            if i == posts {
                // Dead before the answer that lets the run go on.
                drop(listener.take());
            }
            let body = r#"{"caption":"A post.","image_prompt":"A picture."}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn scenario(dir: &std::path::Path, name: &str, users: u32) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nmodel = \"gpt-4o\"\ntiers = [2]\nseed = 7\nrequest_timeout_s = 5\n\
             [load]\nkind = \"burst\"\nusers = {users}\n[target]\nexpect_fields = [\"/caption\"]\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_service_that_dies_mid_run_fails_its_posts_as_failed_connect_and_the_gate() {
    // The preflight and the first case's one post are answered; the service then dies, and the
    // second case's 5 posts find nothing listening. Before the preflight existed this was the
    // closed-port test; now only a death after it reaches the run.
    let (url, seen) = dies_after(1);
    let dir = tempdir("service-dies");
    let before = scenario(&dir, "before", 1);
    let after = scenario(&dir, "after", 5);
    let gate = dir.join("gate.toml");
    std::fs::write(
        &gate,
        "[[gate]]\nscenario = \"before\"\nthresholds = [\"error_rate <= 0%\"]\n\
         [[gate]]\nscenario = \"after\"\nthresholds = [\"error_rate <= 0%\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["run", "--target", &url, "--scenario", &before])
        .args(["--scenario", &after, "--gate"])
        .arg(&gate)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let all = format!("{stdout}\n{stderr}");
    assert!(!all.contains("panicked"), "{all}");
    // The gate failed (exit 1), not a usage error (2) and not a pass.
    assert_eq!(out.status.code(), Some(1), "{all}");
    // The preflight (a GET), then the one post of `before`; nothing after the death.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("GET "), "{seen:?}");
    assert!(seen[1].starts_with("POST "), "{seen:?}");

    let (folder, r) = read_result(&dir.join("reports"));
    let case = |name: &str| {
        r["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scenario"] == name)
            .unwrap_or_else(|| panic!("no case {name}: {r}"))
            .clone()
    };
    assert_eq!(case("before")["posts"]["ok"], 1);
    let c = case("after");
    assert_eq!(c["posts"]["total"], 5);
    assert_eq!(c["posts"]["ok"], 0);
    assert_eq!(c["posts"]["failed"], 5);
    // Each failed post under its cause, and under no other.
    assert_eq!(
        c["posts"]["failed_by_cause"]["connect"], 5,
        "{}",
        c["posts"]
    );
    assert_eq!(
        c["posts"]["failed_by_cause"].as_object().unwrap().len(),
        1,
        "{}",
        c["posts"]
    );
    // Named with the cause on the console's case line, under the table, in report.md, and the
    // failed threshold says what it measured.
    let phrase = "5 connection refused (failed.connect)";
    assert!(
        stderr.contains(&format!("after tier 2: 0/5 posts ok: {phrase}")),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("failed posts, after tier 2: {phrase}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL after tier 2: error_rate <= 0 (measured 1)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("FAIL before tier 2"),
        "the post before the death passed: {stdout}"
    );
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(md.contains(phrase), "{md}");
}

/// What `dies_after` answered is what the test relies on: after it answered its posts, the
/// port refuses connections (no backlog left to reset them).
#[test]
fn the_dying_service_refuses_connections_once_dead() {
    let (url, seen) = dies_after(0);
    let addr = url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let e = TcpStream::connect(&addr).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
}

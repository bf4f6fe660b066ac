//! The stub against broken or hostile clients (issue 12, section 3): descriptor exhaustion, idle
//! and slow connections, oversized and broken bodies, and OpenAI's answers to what a real client
//! can get wrong (the Authorization header, paths, methods, fields). The process-level cases run
//! `postload stub` in a child process and read its stderr.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use postload::openai::tokens::bpe;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{chat_body, client, config, post, post_raw, start};

/// A guard against a hang, never a performance bound: a healthy stub answers in milliseconds.
const HANG: Duration = Duration::from_secs(60);

/// `postload stub` in a child process (under `prlimit` when `nofile` is given).
struct ChildStub {
    child: Child,
    base: String,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ChildStub {
    fn spawn(nofile: Option<u32>, extra: &[&str]) -> Self {
        let bin = env!("CARGO_BIN_EXE_postload");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .args(["stub", "--port", "0", "--latency-ms", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start postload stub");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("OPENAI_BASE_URL=")
            .unwrap_or_else(|| {
                let log: Vec<String> = stderr.try_iter().collect();
                panic!("the stub did not start: {line:?}; stderr: {log:?}")
            })
            .to_string();
        Self {
            child,
            base,
            stderr,
            seen: vec![],
        }
    }

    fn addr(&self) -> SocketAddr {
        let hostport = self
            .base
            .trim_start_matches("http://")
            .trim_end_matches("/v1");
        hostport.parse().unwrap()
    }

    /// Waits for a stderr line containing `needle` and returns it.
    fn wait_for_stderr(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            match self.stderr.recv_timeout(HANG) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no stderr line with {needle:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Stops the stub and returns everything it wrote to stderr.
    fn finish(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut all = std::mem::take(&mut self.seen);
        while let Ok(l) = self.stderr.recv_timeout(HANG) {
            all.push(l);
        }
        all
    }
}

impl Drop for ChildStub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chat_ok(base: &str) -> u16 {
    client()
        .post(format!("{base}/chat/completions"))
        .bearer_auth("sk-test")
        .json(&chat_body("gpt-4o", "hello", Some(5)))
        .timeout(HANG)
        .send()
        .await
        .expect("the stub answers")
        .status()
        .as_u16()
}

/// Reads until the server closes the connection (or an error); returns what arrived.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    read_to_close_within(s, HANG).await
}

/// [`read_to_close`], panicking after `guard` (on paused time, a guard past the timeout tested).
async fn read_to_close_within(s: &mut TcpStream, guard: Duration) -> Vec<u8> {
    let mut out = vec![];
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(guard, s.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open; got {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn accept_errors_are_logged_and_the_stub_keeps_accepting() {
    // 64 descriptors, 100 held connections: accept() fails with EMFILE.
    let mut stub = ChildStub::spawn(Some(64), &[]);
    let addr = stub.addr();
    let mut held = vec![];
    for _ in 0..100 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let line = stub.wait_for_stderr("cannot accept");
    assert!(line.contains("Too many open files"), "{line}");
    drop(held);
    assert_eq!(chat_ok(&stub.base).await, 200, "the stub accepts again");
    stub.wait_for_stderr("accepting connections again");
    let log = stub.finish();
    assert!(!log.iter().any(|l| l.contains("panicked")), "{log:?}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let stub = ChildStub::spawn(None, &["--idle-timeout", "1"]);
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(stub.addr()).await.unwrap();
    // A keep-alive connection after one complete exchange.
    let mut used = TcpStream::connect(stub.addr()).await.unwrap();
    used.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = used.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Both are closed by the server (read_to_close panics if they stay open).
    read_to_close(&mut silent).await;
    read_to_close(&mut used).await;
    assert_eq!(chat_ok(&stub.base).await, 200);
}

/// The test above has no lower bound: a stub closing every connection at once passes it. Here
/// on paused tokio time (the stub on the test's runtime, so its timers are the test's), at the
/// default idle timeout, docs/stub.md's 120 s: a connection that sends nothing, and a
/// keep-alive connection after one exchange, are each kept for the whole 120 s and closed at
/// it, to the 1 ms tokio's timers round to. `postload stub` without options has the same.
#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_kept_for_the_whole_idle_timeout_and_closed_at_it() {
    let idle = Duration::from_secs(120);
    let c = postload::stub::StubConfig::new(std::sync::Arc::new(
        postload::openai::catalog::Catalog::embedded(),
    ));
    assert_eq!(c.idle_timeout, idle);
    assert_eq!(cli_stub_defaults().idle_timeout, idle);
    let stub = crate::calibrate::paused_stub(c).await;
    let closed_within = |from: tokio::time::Instant, what: &str| {
        let took = from.elapsed();
        assert!(
            took >= idle && took <= idle + Duration::from_millis(1),
            "{what}: closed after {took:?}, idle timeout {idle:?}"
        );
    };
    let start = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(stub.address()).await.unwrap();
    read_to_close_within(&mut silent, 2 * idle).await;
    closed_within(start, "silent");
    let mut used = TcpStream::connect(stub.address()).await.unwrap();
    used.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = used.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let answered = tokio::time::Instant::now();
    read_to_close_within(&mut used, 2 * idle).await;
    closed_within(answered, "keep-alive");
}

/// The stub `postload stub` configures with no options.
fn cli_stub_defaults() -> postload::stub::StubConfig {
    use clap::Parser;
    let cli = postload::cli::Cli::try_parse_from(["postload", "stub"]).unwrap();
    let Some(postload::cli::Command::Stub(stub)) = cli.command else {
        panic!("stub parses")
    };
    postload::config::stub_config(&stub.stub).unwrap()
}

/// docs/stub.md's body limit, exactly: a request body of 64 MiB (a chat request padded with
/// spaces, valid JSON) is answered, one byte more is refused with a 413 before it is read; the
/// default of `postload stub` and of the in-process stub alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_64_mib_is_read_and_one_byte_more_is_refused() {
    const LIMIT: usize = 64 << 20;
    assert_eq!(cli_stub_defaults().max_body_bytes, LIMIT);
    let cfg = config();
    assert_eq!(cfg.max_body_bytes, LIMIT);
    let stub = start(cfg).await;
    let padded = |len: usize| {
        let mut b = serde_json::to_vec(&chat_body("gpt-4o", "hi", Some(5))).unwrap();
        assert_eq!(b.pop(), Some(b'}'));
        b.resize(len - 1, b' ');
        b.push(b'}');
        assert_eq!(b.len(), len);
        b
    };
    let at = post_raw(&client(), &stub, padded(LIMIT)).await;
    assert_eq!(at.status, 200, "{}", &at.text[..at.text.len().min(300)]);
    // One byte more, declared: refused at once (1 KiB of it sent). Sent chunked, undeclared:
    // refused once read past the limit (had it been read whole, spaces are no JSON: a 400).
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        LIMIT + 1
    );
    let (text, _) = send_big(stub.address(), head.as_bytes(), &[b' '; 1024], 1024).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut body = Vec::with_capacity(LIMIT + 1_000);
    for _ in 0..64 {
        body.extend_from_slice(b"100000\r\n");
        body.extend(std::iter::repeat_n(b' ', 0x100000));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"1\r\n \r\n0\r\n\r\n");
    let (text, _) = send_big(stub.address(), head, &body, body.len()).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn slowloris_headers_and_trickled_bodies_are_cut_off() {
    let stub = ChildStub::spawn(None, &["--idle-timeout", "1"]);
    // Headers one line every 100 ms, forever: the server must hang up.
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n".to_vec();
    let body_start = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{".to_vec();
    for (start, drip) in [(head, &b"X-Slow: 1\r\n"[..]), (body_start, &b" "[..])] {
        let mut s = TcpStream::connect(stub.addr()).await.unwrap();
        s.write_all(&start).await.unwrap();
        let mut buf = [0u8; 4096];
        let mut got = vec![];
        let mut closed = false;
        // At most HANG of dripping (600 drips); a fixed stub hangs up after about a second.
        for _ in 0..600 {
            match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if s.write_all(drip).await.is_err() {
                closed = true;
                break;
            }
        }
        assert!(closed, "a slow client kept its connection");
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    assert_eq!(chat_ok(&stub.base).await, 200);
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answers_is_cut_off() {
    let stub = ChildStub::spawn(None, &["--idle-timeout", "1"]);
    // 40 pipelined streaming requests of 128 choices (about 3 MB of events each): far more than
    // the socket buffers hold, and the client never reads a byte.
    let body = json!({
        "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
        "stream": true, "n": 128
    })
    .to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(stub.addr()).await.unwrap();
    s.write_all(request.repeat(40).as_bytes()).await.unwrap();
    // Probe with two bytes every 100 ms: once the stub hangs up (with these probes unread, so
    // with a reset), a write fails. At most HANG of probing.
    let mut closed = false;
    for _ in 0..600 {
        match tokio::time::timeout(Duration::from_millis(100), s.write_all(b"\r\n")).await {
            Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(())) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => {}
        }
    }
    assert!(closed, "a client that reads nothing kept its connection");
    assert_eq!(chat_ok(&stub.base).await, 200);
}

/// Sends `head`, then `chunk` repeatedly (at most `max` bytes) while reading the answer; returns
/// the answer and the bytes of body sent.
async fn send_big(addr: SocketAddr, head: &[u8], chunk: &[u8], max: usize) -> (String, usize) {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut out = vec![];
        let _ = tokio::time::timeout(HANG, r.read_to_end(&mut out)).await;
        out
    });
    let mut sent = 0;
    if w.write_all(head).await.is_ok() {
        while sent < max && w.write_all(chunk).await.is_ok() {
            sent += chunk.len();
        }
    }
    let _ = w.shutdown().await;
    let answer = reader.await.unwrap();
    (String::from_utf8_lossy(&answer).into_owned(), sent)
}

fn json_of_response(text: &str) -> Value {
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_without_being_read() {
    let stub = start(config()).await;
    let addr = stub.address();
    // A declared length over the limit is refused at once: 1 KiB of a declared 1 GiB is sent.
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n";
    let (text, _) = send_big(addr, head, &[b' '; 1024], 1024).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let e = json_of_response(&text);
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    // A chunked body is cut off once it passes the limit, long before 1 GiB.
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut chunk = b"100000\r\n".to_vec(); // 1 MiB chunks
    chunk.extend(std::iter::repeat_n(b' ', 0x100000));
    chunk.extend_from_slice(b"\r\n");
    let (text, sent) = send_big(addr, head, &chunk, 1 << 30).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(sent < 1 << 30, "the stub read the whole gigabyte");
    assert_eq!(
        json_of_response(&text)["error"]["type"],
        "invalid_request_error"
    );
    assert_eq!(
        post(&client(), &stub, &chat_body("gpt-4o", "hi", Some(5)))
            .await
            .status,
        200
    );
    assert_eq!(stub.stats().by_status.get(&413), Some(&2));
}

#[tokio::test]
async fn rejected_request_bodies_are_not_kept() {
    let stub = start(config()).await;
    let c = client();
    let mut big = chat_body("gpt-4o", &"word ".repeat(200_000), Some(5));
    big["temperature"] = json!(7); // a 400
    assert_eq!(post(&c, &stub, &big).await.status, 400);
    assert_eq!(
        post(&c, &stub, &chat_body("gpt-4o", "hi", Some(5)))
            .await
            .status,
        200
    );
    let s = stub.stats();
    assert_eq!((s.retained_requests, s.retained_body_bytes), (0, 0));
}

#[tokio::test]
async fn a_client_that_breaks_off_mid_body_or_sends_broken_chunks_panics_nothing() {
    let stub = ChildStub::spawn(None, &[]);
    let cases: [&[u8]; 3] = [
        // Promises 1,000 bytes, sends 10, then closes its side.
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: 1000\r\n\r\n{\"model\":",
        // A chunk size that is not hex.
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        // A chunk longer than its size.
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
    ];
    for case in cases {
        let mut s = TcpStream::connect(stub.addr()).await.unwrap();
        s.write_all(case).await.unwrap();
        s.shutdown().await.unwrap();
        let answer = read_to_close(&mut s).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 400"),
            "{text}"
        );
    }
    assert_eq!(chat_ok(&stub.base).await, 200);
    let log = stub.finish();
    assert!(!log.iter().any(|l| l.contains("panicked")), "{log:?}");
}

#[tokio::test]
async fn missing_or_malformed_authorization_gets_openai_401() {
    let stub = start(config()).await;
    let c = client();
    let url = format!("{}/chat/completions", stub.base_url());
    let body = chat_body("gpt-4o", "hi", Some(5));
    for auth in [
        None,
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer"),
        Some("Bearer "),
        Some("sk-abc"),
    ] {
        let mut r = c.post(&url).json(&body);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let v: Value = r.json().await.unwrap();
        let e = &v["error"];
        assert_eq!(e["type"], "invalid_request_error");
        assert!(e["param"].is_null() && e["code"].is_null(), "{v}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("You didn't provide an API key."),
            "{v}"
        );
    }
    let r = c
        .get(format!("{}/models", stub.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Any bearer token will do.
    let r = c
        .get(format!("{}/models", stub.base_url()))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Counted as chat requests answered 401, outside the seeded sequence.
    let s = stub.stats();
    assert_eq!((s.chat_requests, s.status(401), s.status(200)), (5, 5, 0));
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_openai_json_errors() {
    let stub = start(config()).await;
    let c = client();
    let root = stub.base_url().trim_end_matches("/v1").to_string();
    let cases = [
        (
            "GET",
            "/v1/chat/completions",
            405,
            "Invalid method for URL (GET /v1/chat/completions)",
        ),
        (
            "POST",
            "/v1/models",
            405,
            "Invalid method for URL (POST /v1/models)",
        ),
        (
            "DELETE",
            "/v1/models/gpt-4o",
            405,
            "Invalid method for URL (DELETE /v1/models/gpt-4o)",
        ),
        (
            "POST",
            "/v1/chat/completion",
            404,
            "Invalid URL (POST /v1/chat/completion)",
        ),
        (
            "GET",
            "/v1/embeddings",
            404,
            "Invalid URL (GET /v1/embeddings)",
        ),
        ("GET", "/", 404, "Invalid URL (GET /)"),
    ];
    for (method, path, status, message) in cases {
        let r = c
            .request(method.parse().unwrap(), format!("{root}{path}"))
            .bearer_auth("sk-test")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["message"], message);
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn unknown_fields_and_bad_option_shapes_get_openai_400s() {
    let stub = start(config()).await;
    let c = client();
    let good = chat_body("gpt-4o", "hi", Some(5));
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    // (body, param, code, message)
    let cases = [
        (with("foo", json!(1)), None, None, "Unrecognized request argument supplied: foo"),
        (
            with("tools", json!({"type": "function"})),
            Some("tools"),
            Some("invalid_type"),
            "Invalid type for 'tools': expected an array, but got an object instead.",
        ),
        (
            with("response_format", json!({"type": "xml"})),
            Some("response_format.type"),
            Some("invalid_value"),
            "Invalid value: 'xml'. Supported values are: 'text', 'json_object', and 'json_schema'.",
        ),
        (
            with("stop", json!(["a", "b", "c", "d", "e"])),
            Some("stop"),
            Some("array_above_max_length"),
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 instead.",
        ),
        (
            with("top_logprobs", json!(21)),
            Some("top_logprobs"),
            Some("integer_above_max_value"),
            "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but got 21 instead.",
        ),
        (
            with("temperature", json!(-1)),
            Some("temperature"),
            Some("decimal_below_min_value"),
            "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
        ),
        (
            with("temperature", json!(2.5)),
            Some("temperature"),
            Some("decimal_above_max_value"),
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.",
        ),
    ];
    for (body, param, code, message) in cases {
        let a = post(&c, &stub, &body).await;
        assert_eq!(a.status, 400, "{body}");
        let e = &a.json()["error"];
        assert_eq!(e["message"], message, "{body}");
        assert_eq!(e["param"].as_str(), param, "{body}");
        assert_eq!(e["code"].as_str(), code, "{body}");
    }
    // An integer too large for any machine type is still an integer, not "a decimal".
    let raw = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":1000000000000000000000000000000}"#;
    let a = post_raw(&c, &stub, raw.to_vec()).await;
    assert_eq!(a.status, 400);
    let e = &a.json()["error"];
    assert_eq!(e["param"], "max_tokens");
    assert!(!e["message"].as_str().unwrap().contains("decimal"), "{e}");
}

#[tokio::test]
async fn json_object_responses_parse_as_json() {
    let stub = start(config()).await;
    let c = client();
    let mut body = chat_body("gpt-4o", "Reply in JSON with a caption.", Some(60));
    body["response_format"] = json!({"type": "json_object"});
    let a = post(&c, &stub, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(content).unwrap_or_else(|e| panic!("{e}: {content}"));
    assert!(parsed.is_object(), "{content}");
    assert_eq!(
        bpe().count_ordinary(content) as u64,
        v["usage"]["completion_tokens"].as_u64().unwrap(),
        "{content}"
    );
    // Streamed, the deltas join into the same kind of JSON.
    body["stream"] = json!(true);
    let a = post(&c, &stub, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mut joined = String::new();
    for event in a.text.split("\n\n") {
        let Some(data) = event.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        if let Some(s) = chunk["choices"][0]["delta"]["content"].as_str() {
            joined.push_str(s);
        }
    }
    let parsed: Value = serde_json::from_str(&joined).unwrap_or_else(|e| panic!("{e}: {joined}"));
    assert!(parsed.is_object());
}

/// `shutdown` returns only once the listener is closed: its port can be bound again at once,
/// without the retries a dropped handle needs (its thread closes the listener a few ms later),
/// even with a client's keep-alive connection still open on it until the stub's runtime ends
/// (the port is bound with SO_REUSEADDR, as every stub's is). Repeated, as a `--find-rate` search starts and stops one
/// stub per step on the same port.
#[tokio::test]
async fn a_stub_shut_down_frees_its_port_for_the_next_at_once() {
    let mut port = 0;
    for step in 0..5 {
        // A client of its own: a pooled connection to the stub before would be a dead one.
        let c = client();
        let listener = postload::stub::bind_loopback(port)
            .unwrap_or_else(|e| panic!("step {step}: port {port} still in use: {e}"));
        let stub = postload::stub::start_with_clock(
            config(),
            listener,
            std::sync::Arc::new(postload::clock::ManualClock::new()),
        )
        .await
        .unwrap();
        port = stub.address().port();
        let a = post(&c, &stub, &chat_body("gpt-4o", "hello", Some(5))).await;
        assert_eq!(a.status, 200, "step {step}: {}", a.text);
        stub.shutdown().await;
    }
}

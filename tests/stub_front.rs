//! What hyper answers by itself, before the stub sees a request (issue 24, item 7): a request
//! head too large (431), a malformed one such as a duplicate Content-Length (400), a URL too
//! long (414). Each used to come with an empty body; each is now OpenAI-shaped JSON.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{config, start};

/// A guard against a hang, never a performance bound.
const HANG: Duration = Duration::from_secs(60);

/// Sends `request` whole on a fresh connection and reads until the stub closes it.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = vec![];
    let _ = tokio::time::timeout(HANG, s.read_to_end(&mut out))
        .await
        .expect("the stub closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// The status, the content type and the JSON body of one HTTP/1.1 response.
fn parts(text: &str) -> (u16, String, Value) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let length: Option<usize> = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    });
    assert_eq!(length, Some(body.len()), "{text}");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, ctype, json)
}

fn assert_openai_error(text: &str, status: u16) -> String {
    let (got, ctype, e) = parts(text);
    assert_eq!(got, status, "{text}");
    assert_eq!(ctype, "application/json", "{text}");
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    assert!(
        e["error"]["param"].is_null() && e["error"]["code"].is_null(),
        "{e}"
    );
    e["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_too_large_gets_an_openai_json_431() {
    let stub = start(config()).await;
    // 101 headers: hyper's most is 100.
    let mut req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n".to_string();
    for i in 0..100 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let text = exchange(stub.address(), req.as_bytes()).await;
    let message = assert_openai_error(&text, 431);
    assert!(message.contains("header"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_content_length_gets_an_openai_json_400() {
    let stub = start(config()).await;
    let req = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    let text = exchange(stub.address(), req).await;
    let message = assert_openai_error(&text, 400);
    assert!(message.contains("Content-Length"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_line_gets_an_openai_json_400() {
    let stub = start(config()).await;
    let text = exchange(stub.address(), b"P@ST /v1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_openai_error(&text, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_head_after_a_good_request_on_one_connection_gets_json_too() {
    // The first answer is the stub's own (404 JSON); the second request's duplicate length is
    // hyper's, rewritten.
    let stub = start(config()).await;
    let req = b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    let text = exchange(stub.address(), req).await;
    let second = text
        .find("HTTP/1.1 400")
        .unwrap_or_else(|| panic!("{text}"));
    let (first, _, e) = parts(&text[..second]);
    assert_eq!(first, 404, "{e}");
    assert_openai_error(&text[second..], 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_messages_get_openais_400_with_the_models_rate_limit_headers() {
    // Before: the body was built whole as JSON values, then built again to find its model for
    // the rate-limit headers (2,000,000 one-word messages peaked at 1.5 GB). The model comes
    // after the messages here, so it is found by the skimming read.
    let stub = start(config()).await;
    let one = r#"{"role":"user","content":"w"}"#;
    let body = format!(
        r#"{{"messages":[{}],"model":"gpt-4o"}}"#,
        vec![one; 200_000].join(",")
    );
    let a = crate::common::post_raw(&crate::common::client(), &stub, body.into_bytes()).await;
    assert_eq!(a.status, 400, "{}", a.text);
    let e = a.json();
    assert_eq!(e["error"]["param"], "messages");
    assert_eq!(e["error"]["code"], "array_above_max_length");
    assert_eq!(
        e["error"]["message"],
        "Invalid 'messages': array too long. Expected an array with maximum length 2048, but got an array with length 200000 instead."
    );
    assert!(
        a.header("x-ratelimit-limit-requests").is_some(),
        "{:?}",
        a.headers
    );
}

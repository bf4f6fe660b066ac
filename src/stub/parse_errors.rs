//! OpenAI-shaped bodies for the answers hyper writes by itself. When a request's head cannot be
//! parsed, hyper answers before the stub ever sees a request, with an empty body: 431 for a head
//! too large (more than 100 headers, or past its read buffer), 414 for a URL too long, 400 for a
//! malformed request line or header (a duplicate or conflicting `Content-Length` among them).
//! hyper offers no hook for these, so [`ParseErrorBodies`] sits between hyper and the socket and
//! replaces such a head, as it is written, with the same status and an OpenAI error body.
//!
//! Such a head is told apart by its shape: a 400, 414 or 431 status line, `content-length: 0`
//! and no `content-type`. Every answer of the stub's own has a content type, so none is touched.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::openai::errors::ApiError;

/// The OpenAI error for hyper's own answer with `status`, if it is one of them.
fn error_for(status: u16) -> Option<ApiError> {
    let message = match status {
        431 => "Request header fields too large: this server reads at most 100 headers and about 400 KiB of request line and headers.",
        414 => "The request URL is too long.",
        400 => "The request could not be parsed as HTTP/1.1: a malformed request line or header, or a duplicate or conflicting Content-Length.",
        _ => return None,
    };
    Some(ApiError {
        status,
        message: message.into(),
        kind: "invalid_request_error",
        param: None,
        code: None,
    })
}

/// If `head` is a whole response head of hyper's own error answer, the response to send instead.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()?
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let error = error_for(status)?;
    let mut date = None;
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-type" => return None,
            "content-length" => empty = value.trim() == "0",
            "date" => date = Some(value.trim()),
            _ => {}
        }
    }
    if !empty {
        return None;
    }
    let body = error.to_bytes();
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(d) = date {
        out.push_str(&format!("date: {d}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

/// An I/O stream that rewrites hyper's own error answers (see the module's note). Reads pass
/// through; a write whose first buffer is such a head sends the replacement instead, and reports
/// the head written once the replacement is.
pub(super) struct ParseErrorBodies<T> {
    io: T,
    /// The replacement being written: its bytes, how many are written, and the length of the
    /// head it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ParseErrorBodies<T> {
    pub fn new(io: T) -> Self {
        Self { io, pending: None }
    }
}

impl<T: hyper::rt::Write + Unpin> ParseErrorBodies<T> {
    /// Writes what is left of the replacement; ready with the head's length when all is written.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        loop {
            let Some((bytes, written, stands_for)) = self.pending.as_mut() else {
                return Poll::Ready(Ok(0));
            };
            if *written == bytes.len() {
                let n = *stands_for;
                self.pending = None;
                return Poll::Ready(Ok(n));
            }
            match ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..])) {
                Ok(0) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Notes a replacement if `first` (the first buffer of a write) is one of hyper's heads.
    fn inspect(&mut self, first: &[u8]) {
        if self.pending.is_none() && first.starts_with(b"HTTP/1.1 4") {
            if let Some(bytes) = replacement(first) {
                self.pending = Some((bytes, 0, first.len()));
            }
        }
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for ParseErrorBodies<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for ParseErrorBodies<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.inspect(buf);
        if this.pending.is_some() {
            return this.drive(cx);
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            this.inspect(first);
        }
        if this.pending.is_some() {
            return this.drive(cx);
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    // hyper flushes or shuts down only once its writes are done, so no replacement is pending.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_heads_are_replaced_and_the_stubs_answers_are_not() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 05:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(hyper_431).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains("date: Sun, 06 Dec 2026 05:00:00 GMT"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let e: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(e["error"]["type"], "invalid_request_error");
        // The stub's own 400 has a content type (and a body); a 404 or 200 is never hyper's.
        for own in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
        ] {
            assert_eq!(replacement(own), None, "{}", String::from_utf8_lossy(own));
        }
    }
}

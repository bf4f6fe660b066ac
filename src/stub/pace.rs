//! When a chat answer goes out: whole after its modelled latency, or, streamed, in two parts:
//! the role delta and the first content chunk at the time to first token, the rest at the full
//! latency, both scaled by the clock like every delay. Two timers a stream at most (the
//! handler's wait, then one in the body), never one per token: ten thousand open streams cost
//! ten thousand timers. A client that goes away mid-stream drops the body and its timer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::time::{Instant, Sleep};

use super::Reply;

/// Every answer's body: whole, or a paced stream.
pub(super) type Body = Either<Full<Bytes>, Paced>;

/// A body sent at once.
pub(super) fn whole(bytes: Bytes) -> Body {
    Either::Left(Full::new(bytes))
}

/// A streamed body in two parts: the first ready now, the rest at `due`.
#[derive(Debug)]
pub(super) struct Paced {
    first: Option<Bytes>,
    rest: Option<Bytes>,
    due: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Paced {
    fn new(first: Bytes, rest: Bytes, due: Instant) -> Self {
        Self {
            first: Some(first),
            rest: Some(rest),
            due,
            timer: None,
        }
    }
}

impl hyper::body::Body for Paced {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if this.rest.is_none() {
            return Poll::Ready(None);
        }
        // The timer exists only once the first part is out, and is due at a fixed instant
        // however long writing the first part took.
        let due = this.due;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        match timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                this.timer = None;
                Poll::Ready(this.rest.take().map(|rest| Ok(Frame::data(rest))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_none()
    }
}

/// Waits out `reply`'s modelled latency (divided by `scale`, the clock's), counted from `start`
/// (when the request was read), and answers it: a streamed 200 at its time to first token with
/// its first part, the rest due at the full latency; anything else whole at the end. Counting
/// from `start` makes the stub's own work part of the modelled latency, as OpenAI's is part of
/// its own, instead of adding to it (a debug build's few milliseconds a call, times
/// `--time-scale`, would otherwise lengthen every answer).
pub(super) async fn deliver(mut reply: Reply, scale: f64, start: Instant) -> Response<Body> {
    let total = reply.delay.div_f64(scale);
    let body = std::mem::take(&mut reply.body);
    match reply.first_part.take() {
        Some((end, ttft)) if end < body.len() => {
            let ttft = ttft.div_f64(scale).min(total);
            tokio::time::sleep_until(start + ttft).await;
            let mut first = Bytes::from(body);
            let rest = first.split_off(end);
            to_response(reply, Either::Right(Paced::new(first, rest, start + total)))
        }
        _ => {
            let response = to_response(reply, whole(Bytes::from(body)));
            tokio::time::sleep_until(start + total).await;
            response
        }
    }
}

fn to_response(reply: Reply, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status");
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    for (name, value) in reply.headers {
        // Our values are ASCII digits, ids and durations; a bad one is dropped, never a panic.
        if let Ok(v) = HeaderValue::try_from(value) {
            h.append(name, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt;
    use hyper::body::Body as _;

    use super::*;

    fn reply(first_part: Option<(usize, u64)>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("x-stub-ttft-ms", "300.000".into())],
            content_type: "text/event-stream; charset=utf-8",
            body: b"data: first\n\ndata: rest\n\ndata: [DONE]\n\n".to_vec(),
            delay: Duration::from_millis(1_000),
            first_part: first_part.map(|(end, ms)| (end, Duration::from_millis(ms))),
        }
    }

    /// Each frame of `body` with the time it came, from `start`.
    async fn frames(mut body: Body, start: Instant) -> Vec<(Bytes, Duration)> {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.expect("infallible").into_data().expect("data");
            out.push((data, start.elapsed()));
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_sends_its_first_part_at_the_ttft_and_the_rest_at_the_latency() {
        let start = Instant::now();
        // 13 bytes: "data: first\n\n". TTFT 300 ms of 1,000; at time scale 2: 150 and 500 ms.
        let r = deliver(reply(Some((13, 300))), 2.0, Instant::now()).await;
        assert_eq!(start.elapsed(), Duration::from_millis(150));
        assert_eq!(r.headers()["x-stub-ttft-ms"], "300.000");
        let got = frames(r.into_body(), start).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (Bytes::from("data: first\n\n"), ms(150)));
        assert_eq!(got[1].0, Bytes::from("data: rest\n\ndata: [DONE]\n\n"));
        assert_eq!(got[1].1, ms(500));
    }

    #[tokio::test(start_paused = true)]
    async fn the_rest_stays_due_at_the_latency_however_late_the_first_part_is_read() {
        let start = Instant::now();
        let r = deliver(reply(Some((13, 300))), 1.0, Instant::now()).await;
        let mut body = r.into_body();
        // The client reads the first part 500 ms late: the rest is still due at 1,000 ms.
        tokio::time::sleep(ms(500)).await;
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from("data: first\n\n"));
        assert_eq!(start.elapsed(), ms(800));
        body.frame().await.unwrap().unwrap();
        assert_eq!(start.elapsed(), ms(1_000));
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unpaced_answer_comes_whole_at_the_latency() {
        let start = Instant::now();
        // No first part (a plain answer or an error), or one that is the whole body.
        for first_part in [None, Some((1_000, 300))] {
            let start_one = Instant::now();
            let r = deliver(reply(first_part), 1.0, Instant::now()).await;
            assert_eq!(start_one.elapsed(), ms(1_000));
            let got = frames(r.into_body(), start_one).await;
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].1, ms(1_000));
        }
        assert_eq!(start.elapsed(), ms(2_000));
    }

    #[tokio::test(start_paused = true)]
    async fn the_stubs_own_work_is_inside_the_latency_not_added_to_it() {
        // The request was read 40 ms before delivery (the stub's work on it): TTFT 300 ms and
        // latency 1,000 ms still count from the read, so the first part comes 260 ms and the
        // rest 960 ms after delivery starts.
        let read = Instant::now();
        tokio::time::sleep(ms(40)).await;
        let start = Instant::now();
        let r = deliver(reply(Some((13, 300))), 1.0, read).await;
        assert_eq!(start.elapsed(), ms(260));
        let got = frames(r.into_body(), start).await;
        assert_eq!((got[0].1, got[1].1), (ms(260), ms(960)));
        // Work longer than the whole latency: the answer goes at once.
        let read = Instant::now();
        tokio::time::sleep(ms(1_200)).await;
        let start = Instant::now();
        let r = deliver(reply(None), 1.0, read).await;
        assert_eq!(start.elapsed(), ms(0));
        assert_eq!(frames(r.into_body(), start).await[0].1, ms(0));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
}

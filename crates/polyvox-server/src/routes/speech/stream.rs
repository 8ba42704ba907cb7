//! Turning a [`SpeechStream`] into an HTTP response: raw audio bytes or OpenAI-style SSE.
//!
//! Design: the response body polls the service's stream directly — no forwarding task, no
//! channel — so when the client disconnects hyper drops the body, the body drops the stream, and
//! the service's cancel-on-drop stops the synthesis. The synthesis slot is owned by the same
//! [`Tracked`] wrapper and is released at that same moment.
//!
//! The first piece is awaited before the response head is sent: an error that arrives before any
//! audio still gets its own status code instead of a 200 with a broken body. After that, an audio
//! body can only be aborted (the client sees a truncated transfer, never a "valid" short file),
//! while an SSE stream ends with an `error` event.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use polyvox_core::{AudioFormat, Error};
use tracing::Span;

use crate::admission::Held;

use crate::error::{ApiError, ErrorReport};
use crate::speech::{Progress, SpeechStream};
use crate::tenancy::{Caller, Tenancy};

/// Whom to bill for the audio of one response, once it ends.
pub(crate) struct Meter {
    pub tenancy: Arc<Tenancy>,
    pub caller: Caller,
}

/// How the audio leaves: `stream_format` of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Audio,
    Sse,
}

/// Interval of SSE keep-alive comments, short enough for common proxy idle timeouts.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(10);

pub(crate) async fn respond(
    stream: SpeechStream,
    held: Held,
    delivery: Delivery,
    input_chars: usize,
    meter: Option<Meter>,
) -> Result<Response, ApiError> {
    let format = stream.format;
    let mut audio = Tracked {
        inner: stream.bytes,
        _held: held,
        span: Span::current(),
        bytes: 0,
        finished: false,
        progress: stream.progress,
        meter,
    };
    let first = match audio.next().await {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return Err(ApiError::Domain(e)),
        None => None,
    };
    Ok(match delivery {
        Delivery::Audio => audio_response(format, first, audio),
        Delivery::Sse => sse_response(first, audio, input_chars),
    })
}

fn audio_response(format: AudioFormat, first: Option<Bytes>, audio: Tracked) -> Response {
    let body = stream::iter(first.map(Ok)).chain(audio).map(|item| {
        item.map_err(|e| std::io::Error::other(format!("synthesis failed mid-stream: {}", e.code)))
    });
    let mut res = Response::new(Body::from_stream(body));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells nginx-style proxies not to buffer: the point of streaming is the early first byte.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

struct SseState {
    first: Option<Bytes>,
    audio: Tracked,
    input_chars: usize,
}

fn sse_response(first: Option<Bytes>, audio: Tracked, input_chars: usize) -> Response {
    let events = stream::unfold(
        Some(SseState {
            first,
            audio,
            input_chars,
        }),
        |state| async move {
            let mut s = state?;
            let item = match s.first.take() {
                Some(b) => Some(Ok(b)),
                None => s.audio.next().await,
            };
            let (event, next) = match item {
                Some(Ok(bytes)) => (delta_event(&bytes), Some(s)),
                Some(Err(e)) => (error_event(&e), None),
                None => (done_event(s.input_chars, s.audio.bytes), None),
            };
            Some((Ok::<Event, Infallible>(event), next))
        },
    );
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(SSE_KEEP_ALIVE))
        .into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

fn delta_event(bytes: &[u8]) -> Event {
    let audio = base64::engine::general_purpose::STANDARD.encode(bytes);
    Event::default()
        .data(serde_json::json!({ "type": "speech.audio.delta", "audio": audio }).to_string())
}

/// OpenAI's terminal event. Kokoro has no tokenizer billing, so `input_tokens` counts input
/// characters; `audio_bytes` is a Polyvox extension.
fn done_event(input_chars: usize, audio_bytes: u64) -> Event {
    let usage = serde_json::json!({
        "input_tokens": input_chars,
        "output_tokens": 0,
        "total_tokens": input_chars,
        "audio_bytes": audio_bytes,
    });
    Event::default()
        .data(serde_json::json!({ "type": "speech.audio.done", "usage": usage }).to_string())
}

fn error_event(e: &Error) -> Event {
    let report = ErrorReport::new(e.code, e.message.clone());
    let error = serde_json::json!({ "code": report.code.as_str(), "message": report.message });
    Event::default().data(serde_json::json!({ "type": "error", "error": error }).to_string())
}

/// The service's audio stream plus what must live exactly as long as it: the synthesis slots,
/// the request's span (body polling happens outside the handler, so it is re-entered here) and
/// the usage meter, which bills the audio actually produced when the body is dropped (finished,
/// failed or abandoned by the client).
struct Tracked {
    inner: BoxStream<'static, Result<Bytes, Error>>,
    _held: Held,
    span: Span,
    bytes: u64,
    finished: bool,
    progress: Arc<Progress>,
    meter: Option<Meter>,
}

impl Stream for Tracked {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let _enter = this.span.enter();
        let item = this.inner.poll_next_unpin(cx);
        match &item {
            Poll::Ready(Some(Ok(b))) => this.bytes += b.len() as u64,
            Poll::Ready(Some(Err(e))) => {
                // An error is always the stream's last item (the service contract); stop here so
                // nothing polls a failed synthesis again.
                this.finished = true;
                tracing::error!(code = %e.code, detail = %e.message, bytes = this.bytes, "synthesis failed mid-stream");
            }
            Poll::Ready(None) => {
                this.finished = true;
                tracing::info!(bytes = this.bytes, "audio complete");
            }
            Poll::Pending => {}
        }
        item
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.finished {
            let _enter = self.span.enter();
            tracing::info!(bytes = self.bytes, "client went away; synthesis cancelled");
        }
        let ms = self.progress.audio_ms();
        if let Some(Meter { tenancy, caller }) = self.meter.take()
            && ms > 0
        {
            let delta = polyvox_infra::tenancy::UsageDelta {
                audio_seconds: ms as f64 / 1000.0,
                ..Default::default()
            };
            tenancy.record(&caller, delta);
        }
    }
}

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

use std::collections::VecDeque;
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
use polyvox_core::{AudioFormat, Error, Timeline};
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
    let words = stream.words;
    let mut audio = Tracked::new(stream.bytes, stream.progress, held, meter);
    let first = match audio.next().await {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return Err(ApiError::Domain(e)),
        None => None,
    };
    Ok(match delivery {
        Delivery::Audio => audio_response(format, first, audio),
        Delivery::Sse => sse_response(first, audio, input_chars, words),
    })
}

/// The whole synthesis as one JSON document: the file in base64 and every word's timing.
pub(crate) async fn respond_json(
    stream: SpeechStream,
    held: Held,
    meter: Option<Meter>,
) -> Result<Response, ApiError> {
    let format = stream.format;
    let words = stream.words;
    let mut audio = Tracked::new(stream.bytes, stream.progress, held, meter);
    let mut file = Vec::new();
    while let Some(piece) = audio.next().await {
        file.extend_from_slice(&piece.map_err(ApiError::Domain)?);
    }
    let body = super::SpeechWithTimestamps {
        audio_base64: base64::engine::general_purpose::STANDARD.encode(&file),
        content_type: format.content_type().to_owned(),
        words: words.all().into_iter().map(Into::into).collect(),
    };
    let mut res = axum::Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
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
    /// Word timings (empty unless asked for) and how many of them were sent.
    words: Arc<Timeline>,
    words_sent: usize,
    /// Events decided but not yet sent, and whether the stream ends after them.
    queued: VecDeque<Event>,
    ending: bool,
}

impl SseState {
    /// A `speech.words` event of the words not sent yet, if any.
    fn new_words(&mut self) -> Option<Event> {
        let fresh = self.words.since(self.words_sent);
        if fresh.is_empty() {
            return None;
        }
        self.words_sent += fresh.len();
        let words: Vec<super::WordTimestamp> = fresh.into_iter().map(Into::into).collect();
        Some(
            Event::default()
                .data(serde_json::json!({ "type": "speech.words", "words": words }).to_string()),
        )
    }
}

fn sse_response(
    first: Option<Bytes>,
    audio: Tracked,
    input_chars: usize,
    words: Arc<Timeline>,
) -> Response {
    let events = stream::unfold(
        SseState {
            first,
            audio,
            input_chars,
            words,
            words_sent: 0,
            queued: VecDeque::new(),
            ending: false,
        },
        |mut s| async move {
            if let Some(event) = s.queued.pop_front() {
                return Some((Ok::<Event, Infallible>(event), s));
            }
            if s.ending {
                return None;
            }
            let item = match s.first.take() {
                Some(b) => Some(Ok(b)),
                None => s.audio.next().await,
            };
            // A chunk's words are logged before its audio is yielded, so they go out first.
            match item {
                Some(Ok(bytes)) => {
                    let words = s.new_words();
                    s.queued.extend(words);
                    s.queued.push_back(delta_event(&bytes));
                }
                Some(Err(e)) => {
                    s.queued.push_back(error_event(&e));
                    s.ending = true;
                }
                None => {
                    let words = s.new_words();
                    s.queued.extend(words);
                    s.queued.push_back(done_event(s.input_chars, s.audio.bytes));
                    s.ending = true;
                }
            }
            let event = s.queued.pop_front()?;
            Some((Ok(event), s))
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

impl Tracked {
    /// Counts and meters `inner` as it is sent, in the request's span, holding `held` until the end.
    fn new(
        inner: BoxStream<'static, Result<Bytes, Error>>,
        progress: Arc<Progress>,
        held: Held,
        meter: Option<Meter>,
    ) -> Self {
        Self {
            inner,
            _held: held,
            span: Span::current(),
            bytes: 0,
            finished: false,
            progress,
            meter,
        }
    }
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

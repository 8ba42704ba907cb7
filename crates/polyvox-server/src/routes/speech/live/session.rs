//! The reader of a live session: handshake (auth, session), then client messages into the
//! segmenter and chunks to the speaker, with the session's limits and its accounting.
//!
//! Accounting: a chunk's characters (and the whitespace before it) are charged — the key's
//! characters-per-minute limit, its monthly quota, its usage — when the chunk is cut, before it
//! is synthesized; the whitespace left at the end when the session closes. So each character is
//! charged exactly once, and text that is never spoken (an error, a client gone) is not charged.
//! The session counts as one request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::{Message, WebSocket};
use axum::http::{HeaderMap, HeaderValue, header};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use polyvox_core::client_ip::ClientIp;
use polyvox_core::live::{Piece, Segmenter};
use polyvox_core::text::{CharRule, rule};
use polyvox_core::{Error, ErrorCode};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::Instrument;

use super::LiveSession;
use super::protocol::{self, ClientMessage, ServerMessage};
use super::speaker::{Job, Speaker, Stopped};
use crate::app::AppState;
use crate::error::ApiError;
use crate::tenancy::Caller;

/// Chunks cut and not yet taken by the speaker: the reader stops reading beyond this.
const CHUNK_QUEUE: usize = 2;
/// Longest API key accepted in an `auth` message.
const MAX_TOKEN_CHARS: usize = 512;

/// How the reader ended.
enum End {
    /// The speaker finished (done sent) or failed (its error sent).
    Spoken,
    /// The client is gone or the writer stopped: nothing to send.
    Gone,
    /// Refused or failed here: the error is sent, then its close.
    Failed(ApiError),
    /// A binary frame from the client.
    Binary,
}

impl From<ApiError> for End {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

pub(super) async fn run(
    socket: WebSocket,
    st: AppState,
    caller: Option<Caller>,
    client: Option<ClientIp>,
) {
    let span = tracing::info_span!("live_session");
    async move {
        let (sink, mut stream) = socket.split();
        let (out, out_rx) = mpsc::channel(st.cfg.live.send_queue.max(1));
        let writer = tokio::spawn(write(sink, out_rx));
        let mut reader = Reader {
            st,
            out: out.clone(),
            speaker: None,
        };
        let end = reader.read(&mut stream, caller, client).await;
        // Whatever the reader ended on, a speaker still running must not add audio after it.
        if let Some(s) = reader.speaker.take() {
            s.abort();
        }
        match end {
            End::Spoken | End::Gone => {}
            End::Failed(e) => {
                let (event, code) = ServerMessage::error(&e);
                let _ = out.send(event.frame()).await;
                let _ = out.send(protocol::close(code, "error")).await;
            }
            End::Binary => {
                let e = ApiError::InvalidRequest(
                    "binary frames are not accepted: send JSON text messages".into(),
                );
                let (event, _) = ServerMessage::error(&e);
                let _ = out.send(event.frame()).await;
                let _ = out
                    .send(protocol::close(protocol::CLOSE_UNSUPPORTED_DATA, "binary"))
                    .await;
            }
        }
        drop(out);
        drop(reader);
        let _ = writer.await;
        tracing::info!("live session ended");
    }
    .instrument(span)
    .await;
}

/// Sends the queued frames; ends after a close frame, at a send error, or when nobody queues more.
async fn write(mut sink: SplitSink<WebSocket, Message>, mut queue: mpsc::Receiver<Message>) {
    while let Some(m) = queue.recv().await {
        let last = matches!(m, Message::Close(_));
        if sink.send(m).await.is_err() || last {
            break;
        }
    }
    let _ = sink.close().await;
}

struct Reader {
    st: AppState,
    out: mpsc::Sender<Message>,
    speaker: Option<tokio::task::JoinHandle<Stopped>>,
}

fn timed_out(what: &str) -> ApiError {
    ApiError::Domain(Error::new(ErrorCode::RequestTimeout, what.to_owned()))
}

impl Reader {
    /// The next client message before `deadline`; pings and pongs are skipped.
    async fn next(
        &self,
        stream: &mut SplitStream<WebSocket>,
        deadline: Instant,
        waiting_for: &str,
    ) -> Result<ClientMessage, End> {
        loop {
            let frame = tokio::select! {
                frame = stream.next() => frame,
                () = sleep_until(deadline) => {
                    let secs = self.st.cfg.live.handshake_timeout.as_secs_f32();
                    return Err(timed_out(&format!("no {waiting_for} message within {secs} s of opening the socket")).into());
                }
            };
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return protocol::parse(t.as_str()).map_err(End::from);
                }
                Some(Ok(Message::Binary(_))) => return Err(End::Binary),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(End::Gone),
            }
        }
    }

    async fn read(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        caller: Option<Caller>,
        client: Option<ClientIp>,
    ) -> End {
        match self.handshake(stream, caller, client).await {
            Ok((caller, session)) => self.converse(stream, caller, session).await,
            Err(end) => end,
        }
    }

    /// Authentication (unless done on the upgrade) and the session message.
    async fn handshake(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        caller: Option<Caller>,
        client: Option<ClientIp>,
    ) -> Result<(Caller, LiveSession), End> {
        let deadline = Instant::now() + self.st.cfg.live.handshake_timeout;
        let caller = match (caller, self.st.tenancy.clone()) {
            (Some(c), _) => c,
            (None, None) => Caller::anonymous(),
            (None, Some(t)) => {
                let ClientMessage::Auth(auth) = self.next(stream, deadline, "auth").await? else {
                    return Err(ApiError::Unauthorized(
                        "missing API key: send 'Authorization: Bearer <key>' on the upgrade or {\"type\":\"auth\",\"token\":\"<key>\"} as the first message".into(),
                    )
                    .into());
                };
                if auth.token.chars().count() > MAX_TOKEN_CHARS {
                    return Err(ApiError::Unauthorized("invalid API key".into()).into());
                }
                let mut headers = HeaderMap::new();
                let value = HeaderValue::from_str(&format!("Bearer {}", auth.token.trim()))
                    .map_err(|_| ApiError::Unauthorized("invalid API key".into()))?;
                headers.insert(header::AUTHORIZATION, value);
                let caller = t.authenticate(&headers, client).await?;
                t.check_request_rate(&caller).await?;
                caller
            }
        };
        let ClientMessage::Session(req) = self.next(stream, deadline, "session").await? else {
            return Err(ApiError::InvalidRequest(
                "the first message after authentication must be {\"type\":\"session\", ...}".into(),
            )
            .into());
        };
        let session = LiveSession::validate(*req, &self.st, &caller).await?;
        let ready = ServerMessage::Ready {
            format: session.format.as_str(),
            content_type: session.format.content_type(),
            sample_rate: polyvox_core::SAMPLE_RATE,
        };
        self.out.send(ready.frame()).await.map_err(|_| End::Gone)?;
        if let Some(t) = &self.st.tenancy {
            let delta = polyvox_infra::tenancy::UsageDelta {
                requests: 1,
                ..Default::default()
            };
            t.record(&caller, delta);
        }
        tracing::info!(format = session.format.as_str(), voice = ?session.voice, lang = ?session.lang, "live session open");
        Ok((caller, session))
    }

    /// Text, flushes and the close, until the session ends.
    async fn converse(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        caller: Caller,
        session: LiveSession,
    ) -> End {
        let cfg = self.st.cfg.live.clone();
        let busy = Arc::new(AtomicUsize::new(0));
        let (jobs, jobs_rx) = mpsc::channel(CHUNK_QUEUE);
        let speaker = Speaker::new(
            self.st.clone(),
            caller.clone(),
            session.clone(),
            self.out.clone(),
            Arc::clone(&busy),
        );
        let speaker = self
            .speaker
            .insert(tokio::spawn(speaker.run(jobs_rx).in_current_span()));
        let mut conv = Conversation {
            st: self.st.clone(),
            caller,
            seg: Segmenter::new(session.schedule.clone()),
            charged: 0,
            jobs,
            busy: Arc::clone(&busy),
        };
        let started = Instant::now();
        let mut last_message = started;
        let mut last_text = started;
        loop {
            let gap = conv.seg.has_speech().then(|| last_text + session.idle_gap);
            let outcome = tokio::select! {
                stopped = &mut *speaker => {
                    // Only a failure (its error sent) or a writer gone ends the speaker early.
                    return match stopped {
                        Ok(Stopped::Failed | Stopped::Done) => End::Spoken,
                        _ => End::Gone,
                    };
                }
                () = self.out.closed() => return End::Gone,
                () = sleep_until(started + cfg.max_session) => {
                    return timed_out(&format!(
                        "the session reached its maximum length of {} s; open a new one",
                        cfg.max_session.as_secs()
                    )).into();
                }
                () = sleep_until(last_message + cfg.idle_timeout) => {
                    if busy.load(Ordering::Acquire) > 0 {
                        // Still speaking what it sent: the client is listening, not idle.
                        last_message = Instant::now();
                        continue;
                    }
                    return timed_out(&format!(
                        "no message for {} s; the session is closed (send flush or close when the text ends)",
                        cfg.idle_timeout.as_secs()
                    )).into();
                }
                () = sleep_until(gap.unwrap_or(started)), if gap.is_some() => Step::Idle,
                frame = stream.next() => Step::Frame(frame),
            };
            let frame = match outcome {
                Step::Idle => {
                    if let Err(end) = conv.flush().await {
                        return end;
                    }
                    continue;
                }
                Step::Frame(frame) => frame,
            };
            last_message = Instant::now();
            let message = match frame {
                Some(Ok(Message::Text(t))) => match protocol::parse(t.as_str()) {
                    Ok(m) => m,
                    Err(e) => return e.into(),
                },
                Some(Ok(Message::Binary(_))) => return End::Binary,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return End::Gone,
            };
            let step = match message {
                ClientMessage::Text(delta) => {
                    last_text = last_message;
                    conv.text(&delta.text, cfg.max_buffered_chars).await
                }
                ClientMessage::Flush => conv.flush().await,
                ClientMessage::Close => {
                    if let Err(end) = conv.close().await {
                        return end;
                    }
                    // The speaker says everything, then `done` and the close.
                    return match speaker.await {
                        Ok(Stopped::Done | Stopped::Failed) => End::Spoken,
                        _ => End::Gone,
                    };
                }
                ClientMessage::Auth(_) | ClientMessage::Session(_) => {
                    Err(ApiError::InvalidRequest(
                        "auth and session messages are accepted only at the start of the socket"
                            .into(),
                    )
                    .into())
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }
}

enum Step {
    Idle,
    Frame(Option<Result<Message, axum::Error>>),
}

/// The text state of an open session.
struct Conversation {
    st: AppState,
    caller: Caller,
    seg: Segmenter,
    /// Characters of the session's text charged so far.
    charged: u64,
    jobs: mpsc::Sender<Job>,
    busy: Arc<AtomicUsize>,
}

impl Conversation {
    async fn text(&mut self, delta: &str, cap: usize) -> Result<(), End> {
        let clean = sanitize_delta(delta, self.seg.total_chars())?;
        let pending = self.seg.pending_chars() + clean.chars().count();
        if pending > cap {
            return Err(ApiError::Domain(Error::new(
                ErrorCode::InputTooLong,
                format!(
                    "text: {pending} characters would wait unspoken; the live buffer holds at most {cap} (send flush, or text with sentence or word breaks)"
                ),
            ))
            .into());
        }
        self.seg.push(&clean);
        while let Some(piece) = self.seg.next_piece() {
            self.speak(piece).await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), End> {
        if let Some(piece) = self.seg.flush() {
            self.speak(piece).await?;
        }
        Ok(())
    }

    /// Speaks what is left and ends the session: the trailing whitespace is charged too.
    async fn close(&mut self) -> Result<(), End> {
        self.flush().await?;
        let total = self.seg.total_chars() as u64;
        self.charge(total).await?;
        self.jobs
            .send(Job::End { characters: total })
            .await
            .map_err(|_| End::Gone)
    }

    async fn charge(&mut self, upto: u64) -> Result<(), End> {
        let chars = upto.saturating_sub(self.charged);
        if chars == 0 {
            return Ok(());
        }
        if let Some(t) = &self.st.tenancy {
            t.charge_more(&self.caller, chars).await?;
        }
        self.charged = upto;
        Ok(())
    }

    async fn speak(&mut self, piece: Piece) -> Result<(), End> {
        self.charge(piece.span.end as u64).await?;
        self.busy.fetch_add(1, Ordering::AcqRel);
        // Waits while the speaker is behind: the backpressure that stops reading the client.
        self.jobs
            .send(Job::Speak(piece))
            .await
            .map_err(|_| End::Gone)
    }
}

/// A text delta with the sanitizer's rules (see `polyvox_core::text`) but not trimmed: spaces
/// between deltas are part of the text. `at` is the delta's offset in the session text, for the
/// position in the error.
fn sanitize_delta(delta: &str, at: usize) -> Result<String, ApiError> {
    let mut out = String::with_capacity(delta.len());
    for (i, c) in delta.chars().enumerate() {
        match rule(c) {
            CharRule::Keep => out.push(c),
            CharRule::LineBreak => out.push('\n'),
            CharRule::Remove => {}
            CharRule::Reject(class) => {
                return Err(ApiError::Domain(Error::new(
                    ErrorCode::InvalidCharacter,
                    format!(
                        "text contains {class} (U+{:04X}) at character {} of the session; only tab and line breaks are allowed among control and direction-override characters",
                        c as u32,
                        at + i + 1
                    ),
                )));
            }
        }
    }
    Ok(out)
}

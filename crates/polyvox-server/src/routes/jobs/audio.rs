//! `GET /v1/jobs/{id}/audio`: a finished job's audio through the API with single byte ranges
//! (RFC 9110: 206 + `Content-Range`, 416 with `Content-Range: bytes */len`; a header it must
//! ignore — another unit, an inverted or unparseable range, several ranges — gets the whole file
//! as a plain 200), or a redirect to a presigned storage URL.

use std::ops::Range;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use polyvox_core::ErrorCode;
use polyvox_infra::InfraError;

use crate::app::AppState;
use crate::error::{ApiError, ErrorReport};
use crate::jobs::{has_audio, infra};
use crate::routes::jobs::service;
use crate::tenancy::Caller;

/// The audio of a finished job; supports `Range: bytes=…` (206, or 416 when unsatisfiable).
/// With presigned URLs configured, redirects (302) to the storage URL.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/audio",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id"), ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`")),
    responses(
        (status = 200, description = "The whole file", content(("audio/mpeg"), ("audio/ogg; codecs=opus"), ("audio/flac"), ("audio/wav"), ("audio/pcm"))),
        (status = 206, description = "The requested range, with `Content-Range`"),
        (status = 302, description = "Redirect to a presigned storage URL"),
        (status = 404, description = "No such job, or it has no audio (yet)", body = crate::error::ErrorBody),
        (status = 410, description = "`audio_expired`: the audio passed its retention and was deleted", body = crate::error::ErrorBody),
        (status = 416, description = "Range starts past the end", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn job_audio(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    let job = jobs.get_owned(&id, caller.owner()).await?;
    let audio = match &job.audio {
        Some(a) if has_audio(&job) => a.clone(),
        _ => {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::NotFound,
                format!("job '{id}' has no audio: it is {}", job.status.as_str()),
            )));
        }
    };
    if job.audio_expired(std::time::SystemTime::now()) {
        let when = audio
            .expires_at
            .map(|t| {
                format!(
                    " at {} ms since the Unix epoch",
                    polyvox_infra::db::unix_millis(t)
                )
            })
            .unwrap_or_default();
        return Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::AudioExpired,
            format!(
                "the audio of job '{id}' passed its retention{when} and was deleted; submit the job again"
            ),
        )));
    }
    if let Some(url) = jobs.presigned(&audio.key, audio.expires_at).await {
        let mut res = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&url) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(res);
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => match parse_range(r, audio.bytes) {
            RangeAnswer::Partial(r) => Some(r),
            RangeAnswer::Whole => None,
            RangeAnswer::Unsatisfiable => return Ok(unsatisfiable(audio.bytes)),
        },
        None => None,
    };
    let partial = range.is_some();
    let fetched = match jobs.read(&audio.key, range).await {
        Ok(f) => f,
        Err(InfraError::RangeNotSatisfiable { len }) => return Ok(unsatisfiable(len)),
        Err(e) => return Err(infra(e)),
    };
    let content_type = fetched
        .info
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let (start, end, len) = (fetched.range.start, fetched.range.end, fetched.info.len);
    // Streamed from storage as it arrives: an hours-long WAV never sits in this process. A
    // storage failure mid-body ends the response early, which the client sees as a short body
    // against the Content-Length below.
    let mut res = Response::new(Body::from_stream(fetched.body));
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&(end - start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if partial {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end.saturating_sub(1)))
        {
            res.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(res)
}

fn unsatisfiable(len: u64) -> Response {
    let report = ErrorReport::new(
        ErrorCode::InvalidRequest,
        format!("range not satisfiable; the audio has {len} bytes"),
    );
    let mut res = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        res.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    res.extensions_mut().insert(report);
    res
}

/// How to answer a `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// 206 with this half-open byte range.
    Partial(Range<u64>),
    /// A header RFC 9110 says to ignore (another unit, an invalid or several ranges): 200.
    Whole,
    /// 416: the range starts at or past the end.
    Unsatisfiable,
}

/// One `bytes=` range against an object of `len` bytes.
pub(crate) fn parse_range(header: &str, len: u64) -> RangeAnswer {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        // Multipart ranges are not supported; the whole file is a valid answer.
        return RangeAnswer::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let r = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(s), Some(e)) if e >= s => s..e.saturating_add(1).min(len),
        (Some(s), None) if b.is_empty() => s..len,
        (None, Some(n)) if a.is_empty() && n > 0 => len.saturating_sub(n)..len,
        // `bytes=-0` asks for no bytes at all: nothing can satisfy it.
        (None, Some(0)) if a.is_empty() => return RangeAnswer::Unsatisfiable,
        _ => return RangeAnswer::Whole,
    };
    if r.start < len && r.start < r.end {
        RangeAnswer::Partial(r)
    } else {
        RangeAnswer::Unsatisfiable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeAnswer::*;
        assert_eq!(parse_range("bytes=0-9", 100), Partial(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Partial(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Partial(90..100));
        assert_eq!(parse_range("bytes=95-200", 100), Partial(95..100));
        assert_eq!(
            parse_range("bytes=100-", 100),
            Unsatisfiable,
            "starts at the end"
        );
        assert_eq!(parse_range("bytes=200-300", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("items=0-1", 100), Whole, "unknown unit: 200");
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(
            parse_range("bytes=9-3", 100),
            Whole,
            "inverted: ignored, 200"
        );
        assert_eq!(parse_range("bytes=x-y", 100), Whole);
        assert_eq!(parse_range("bytes=5", 100), Whole);
    }
}

//! `GET /v1/jobs/{id}/timestamps` and `GET /v1/jobs/{id}/captions`: the word timings a job
//! submitted with `"timestamps": "word"` recorded, as JSON or as WebVTT / SubRip captions.
//!
//! The timings live in storage beside the audio (`<audio key>.words.json`), not in the job row:
//! a long text has tens of thousands of words, and the row is read on every status poll. Being
//! beside the audio, they are shared by a cache hit on the same (exact) text and deleted with the
//! audio at retention.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use polyvox_core::ErrorCode;
use polyvox_core::timing::{self, CaptionFormat, StoredTimings};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::jobs::has_audio;
use crate::routes::jobs::service;
use crate::routes::speech::WordTimestamp;
use crate::tenancy::Caller;

/// The words of a job's text and when each is spoken in its audio.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JobTimestamps {
    pub id: String,
    pub words: Vec<WordTimestamp>,
}

/// Query of `GET /v1/jobs/{id}/captions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CaptionsQuery {
    /// `vtt` (default, WebVTT) or `srt` (SubRip).
    pub format: Option<String>,
}

/// A succeeded job's word timings.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/timestamps",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Every written word of the job's input with its `char_start`/`char_end` (Unicode scalar values) and `start`/`end` (seconds)", body = JobTimestamps),
        (status = 404, description = "No such job, or it has no audio (yet)", body = crate::error::ErrorBody),
        (status = 410, description = "`audio_expired`: the audio and its timings passed their retention", body = crate::error::ErrorBody),
        (status = 422, description = "`timestamps_unavailable`: the job was submitted without `timestamps: word`", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn job_timestamps(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let stored = load(&st, &caller, &id).await?;
    let body = JobTimestamps {
        id,
        words: stored.words.into_iter().map(Into::into).collect(),
    };
    Ok(axum::Json(body).into_response())
}

/// A succeeded job's captions: cues cut at sentence and clause ends, lines of at most 42
/// characters.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/captions",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id"), CaptionsQuery),
    responses(
        (status = 200, description = "The caption file", content(("text/vtt"), ("application/x-subrip"))),
        (status = 400, description = "`unsupported_format`: `format` is not `vtt` or `srt`", body = crate::error::ErrorBody),
        (status = 404, description = "No such job, or it has no audio (yet)", body = crate::error::ErrorBody),
        (status = 410, description = "`audio_expired`", body = crate::error::ErrorBody),
        (status = 422, description = "`timestamps_unavailable`: the job was submitted without `timestamps: word`", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn job_captions(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<CaptionsQuery>,
) -> Result<Response, ApiError> {
    let format = caption_format(q.format.as_deref())?;
    let stored = load(&st, &caller, &id).await?;
    let cues = timing::cues_in(
        &stored.input,
        &stored.words,
        timing::MAX_LINE_CHARS,
        stored.ssml,
    );
    let mut res = timing::render(format, &cues).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) =
        HeaderValue::from_str(&format!("inline; filename=\"{id}.{}\"", format.extension()))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

pub(crate) fn caption_format(s: Option<&str>) -> Result<CaptionFormat, ApiError> {
    let Some(s) = s.filter(|s| !s.trim().is_empty()) else {
        return Ok(CaptionFormat::Vtt);
    };
    CaptionFormat::parse(s).ok_or_else(|| {
        let shown: String = s.chars().take(32).collect();
        ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::UnsupportedFormat,
            format!("format '{shown}' is not a caption format; use vtt or srt"),
        ))
    })
}

/// The stored timings of the caller's job `id`.
async fn load(st: &AppState, caller: &Caller, id: &str) -> Result<StoredTimings, ApiError> {
    let jobs = service(st)?;
    let job = jobs.get_owned(id, caller.owner()).await?;
    let audio = match &job.audio {
        Some(a) if has_audio(&job) => a.clone(),
        _ => {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::NotFound,
                format!("job '{id}' has no timings: it is {}", job.status.as_str()),
            )));
        }
    };
    if job.audio_expired(std::time::SystemTime::now()) {
        return Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::AudioExpired,
            format!("the audio and timings of job '{id}' passed their retention and were deleted"),
        )));
    }
    let fetched = match jobs.read(&timing::sidecar_key(&audio.key), None).await {
        Ok(f) => f,
        Err(e) if e.code() == ErrorCode::NotFound => {
            return Err(ApiError::Domain(polyvox_core::Error::new(
                ErrorCode::TimestampsUnavailable,
                format!(
                    "job '{id}' recorded no word timings; submit it with \"timestamps\": \"word\""
                ),
            )));
        }
        Err(e) => return Err(crate::jobs::storage_unavailable(e, "word timings read")),
    };
    let bytes = fetched
        .bytes()
        .await
        .map_err(|e| crate::jobs::storage_unavailable(e, "word timings read"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::Internal(format!("stored word timings of job '{id}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caption_formats_are_vtt_or_srt_with_a_stable_code() {
        assert_eq!(caption_format(None).unwrap(), CaptionFormat::Vtt);
        assert_eq!(caption_format(Some("SRT")).unwrap(), CaptionFormat::Srt);
        let err = caption_format(Some("ass")).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsupportedFormat);
        assert_eq!(err.code().http_status(), 400);
        assert!(err.to_string().contains("format 'ass'"), "{err}");
    }
}

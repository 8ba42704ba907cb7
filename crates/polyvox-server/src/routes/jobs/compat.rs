//! `POST /tts/generate`: the route clients of the service this project grew from still call. A
//! thin alias of `POST /v1/jobs`: catalogue voice ids map to Kokoro voices, the answer is
//! immediate (202) with the job id and the URL to poll for the audio URL.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use polyvox_core::request::FieldNames;
use polyvox_core::{ErrorCode, RawSynthesisRequest};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::jobs::SubmitOptions;
use crate::routes::jobs::{service, submit_charged, validate};
use crate::tenancy::Caller;

/// The legacy catalogue: id → Kokoro voice.
pub const LEGACY_VOICES: [(&str, &str); 5] = [
    ("1", "af_sky"),
    ("2", "am_adam"),
    ("3", "af_bella"),
    ("4", "am_michael"),
    ("5", "jf_alpha"),
];

/// Body of `POST /tts/generate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GenerateRequest {
    /// Text to speak (async limit applies).
    #[schema(example = "Hello there.")]
    pub text: String,
    /// "1" Sky, "2" Adam, "3" Bella, "4" Michael, "5" Misaki. Default "1".
    #[schema(example = "3")]
    pub voice_id: Option<String>,
    /// `en`, `en-gb`, `ja`, `ko` or `zh`. Default: the voice's language.
    #[schema(example = "en")]
    pub language: Option<String>,
}

const FIELDS: FieldNames = FieldNames {
    text: "text",
    voice: "voice_id",
    lang: "language",
    speed: "speed",
    format: "format",
};

/// Legacy alias of `POST /v1/jobs`: answers at once with `id` and `status_url`; poll that URL
/// until `status` is `succeeded`, then GET its `audio_url` (MP3).
#[utoipa::path(
    post,
    path = "/tts/generate",
    tag = "jobs",
    request_body = GenerateRequest,
    responses(
        (status = 202, description = "Accepted; poll `status_url` for `audio_url`", body = crate::routes::jobs::JobAccepted),
        (status = 400, description = "Unknown `voice_id` (`voice_not_found`) or a language other than en, en-gb, ja, ko, zh (`unsupported_language`)", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn generate(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let jobs = service(&st)?;
    crate::hardening::check_fields(&[
        (body.voice_id.as_deref(), "voice_id", 16),
        (body.language.as_deref(), "language", 32),
    ])?;
    let voice = match body.voice_id.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => "af_sky",
        Some(id) => LEGACY_VOICES.iter().find(|(k, _)| *k == id).map(|(_, v)| *v).ok_or_else(|| {
            ApiError::Domain(polyvox_core::Error::new(ErrorCode::VoiceNotFound, format!("voice_id '{id}' does not exist; use 1 (Sky), 2 (Adam), 3 (Bella), 4 (Michael) or 5 (Misaki)")))
        })?,
    };
    let lang = match body
        .language
        .as_deref()
        .map(|l| l.trim().to_ascii_lowercase())
    {
        None => None,
        Some(l) if l.is_empty() => None,
        Some(l) => match l.as_str() {
            "en" | "en-us" => Some("en-us".to_string()),
            "en-gb" | "ja" | "ko" | "zh" => Some(l),
            other => {
                return Err(ApiError::Domain(polyvox_core::Error::new(
                    ErrorCode::UnsupportedLanguage,
                    format!(
                        "language '{other}' is not supported here; use en, en-gb, ja, ko or zh"
                    ),
                )));
            }
        },
    };
    let raw = RawSynthesisRequest {
        text: body.text,
        voice: Some(voice.into()),
        lang,
        speed: None,
        format: None,
    };
    let req = validate(&st, jobs, raw, FIELDS)?;
    let opts = SubmitOptions {
        owner: caller.owner().map(str::to_string),
        share: true,
        ..SubmitOptions::default()
    };
    submit_charged(&st, jobs, &caller, req, opts, false).await
}

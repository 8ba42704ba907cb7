//! Read-only endpoints: voices, languages, models and health.
//!
//! The catalogue itself is static (`polyvox_core::VOICES`, `Lang::ALL`); what the running service
//! adds is which languages its loaded front ends can actually speak, so clients (and the web page)
//! can offer only what works. Voice previews are in [`preview`].

pub(crate) mod preview;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use polyvox_core::{ErrorCode, Gender, Lang, VOICES};
use serde::Serialize;

use crate::app::AppState;
use crate::edge::RequestId;
use crate::error::{ErrorBody, ErrorReport};
use crate::routes::jobs::compat::LEGACY_VOICES;
use crate::routes::speech::MODEL_ALIASES;

/// One voice of `/v1/voices`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoiceEntry {
    /// Kokoro id, e.g. `af_bella`.
    pub id: &'static str,
    /// Display name, e.g. `Bella`.
    pub name: &'static str,
    /// Language code, e.g. `en-us`.
    pub language: &'static str,
    #[schema(value_type = String, example = "female")]
    pub gender: Gender,
    /// Other names that select this voice (OpenAI voice names and the like).
    pub aliases: &'static [&'static str],
    /// The `voice_id` that selects this voice in the legacy `POST /tts/generate` (the original
    /// service's catalogue: 1 Sky, 2 Adam, 3 Bella, 4 Michael, 5 Misaki).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_voice_id: Option<&'static str>,
    /// Whether this server can speak the voice's language right now.
    pub supported: bool,
}

/// One language of `/v1/languages`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LanguageEntry {
    /// Code accepted by the `lang` field, e.g. `en-us`.
    pub code: &'static str,
    pub name: &'static str,
    /// Whether this server's front ends can speak it.
    pub supported: bool,
    /// Voice used when a request names this language but no voice.
    pub default_voice: &'static str,
    /// Number of voices trained on this language (Korean has none and speaks through a Japanese voice).
    pub voices: usize,
    /// How the language is read and what it depends on, where a client should know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// What `/v1/languages` says about how each language is read (README "Languages" in short).
fn language_note(l: Lang) -> Option<&'static str> {
    Some(match l {
        Lang::Ko => {
            "accented, non-native: Korean read by rule and spoken by the Japanese voice jf_alpha (Kokoro has no Korean voice)"
        }
        Lang::Ja => {
            "needs the Japanese dictionary that `polyvox models fetch` builds from mecab-ipadic"
        }
        Lang::Es | Lang::Fr | Lang::Hi | Lang::It | Lang::PtBr => {
            "read through espeak-ng; supported only where espeak-ng is installed"
        }
        Lang::EnUs | Lang::EnGb | Lang::Zh => return None,
    })
}

/// One model of `/v1/models` (OpenAI's shape).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelEntry {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
}

/// OpenAI's list envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub object: &'static str,
    pub data: Vec<T>,
}

impl<T> List<T> {
    fn of(data: Vec<T>) -> Self {
        Self {
            object: "list",
            data,
        }
    }
}

/// Health status body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Readiness body; on 503 it also carries the usual `error` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadyBody {
    pub ready: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::ErrorObject>,
}

/// Lists every voice, marking those whose language this server supports.
#[utoipa::path(get, path = "/v1/voices", tag = "catalogue", security(()), responses((status = 200, description = "All voices", body = List<VoiceEntry>)))]
pub(crate) async fn list_voices(State(st): State<AppState>) -> Json<List<VoiceEntry>> {
    let supported = st.speech.languages();
    let data = VOICES
        .iter()
        .map(|v| VoiceEntry {
            id: v.id,
            name: v.name,
            language: v.lang.code(),
            gender: v.gender,
            aliases: v.aliases,
            legacy_voice_id: LEGACY_VOICES
                .iter()
                .find(|(_, id)| *id == v.id)
                .map(|(legacy, _)| *legacy),
            supported: supported.contains(&v.lang),
        })
        .collect();
    Json(List::of(data))
}

/// Lists every language Polyvox knows, marking those this server can speak.
#[utoipa::path(get, path = "/v1/languages", tag = "catalogue", security(()), responses((status = 200, description = "All languages", body = List<LanguageEntry>)))]
pub(crate) async fn list_languages(State(st): State<AppState>) -> Json<List<LanguageEntry>> {
    let supported = st.speech.languages();
    let data = Lang::ALL
        .iter()
        .map(|&l| LanguageEntry {
            code: l.code(),
            name: l.name(),
            supported: supported.contains(&l),
            default_voice: l.default_voice(),
            voices: VOICES
                .iter()
                .filter(|v| v.lang == l && l.voice_prefix().is_some())
                .count(),
            note: language_note(l),
        })
        .collect();
    Json(List::of(data))
}

/// Lists the model and the OpenAI names that select it.
#[utoipa::path(get, path = "/v1/models", tag = "catalogue", security(()), responses((status = 200, description = "The model and its aliases", body = List<ModelEntry>)))]
pub(crate) async fn list_models(State(st): State<AppState>) -> Json<List<ModelEntry>> {
    let ids = std::iter::once(st.speech.model_id().to_string())
        .chain(MODEL_ALIASES.iter().map(|s| s.to_string()));
    let data = ids
        .map(|id| ModelEntry {
            id,
            object: "model",
            created: 0,
            owned_by: "polyvox",
        })
        .collect();
    Json(List::of(data))
}

/// Liveness: the process answers HTTP. Checks no dependency.
#[utoipa::path(get, path = "/health/live", tag = "health", security(()), responses((status = 200, description = "Alive", body = Health)))]
pub(crate) async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the synthesis side can take requests (model loaded and warmed).
#[utoipa::path(get, path = "/health/ready", tag = "health", security(()), responses(
    (status = 200, description = "Ready for synthesis", body = ReadyBody),
    (status = 503, description = "Not ready; `error.code` is `model_unavailable`", body = ReadyBody),
))]
pub(crate) async fn ready(
    State(st): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
) -> Response {
    let r = st.speech.readiness();
    if r.ready {
        return (
            StatusCode::OK,
            Json(ReadyBody {
                ready: true,
                detail: r.detail,
                error: None,
            }),
        )
            .into_response();
    }
    let id = request_id.map(|e| e.0.0).unwrap_or_default();
    let report = ErrorReport::new(ErrorCode::ModelUnavailable, r.detail.clone());
    let ErrorBody { error } = report.to_body(&id);
    tracing::warn!(detail = %r.detail, "not ready");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(ReadyBody {
            ready: false,
            detail: r.detail,
            error: Some(error),
        }),
    )
        .into_response()
}

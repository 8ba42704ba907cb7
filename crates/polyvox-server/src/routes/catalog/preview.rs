//! `GET /v1/voices/{voice}/preview`: a short sample of one voice, for the web page's gallery and
//! for any client that lets people choose a voice.
//!
//! Design: a preview is part of the catalogue, not a user's synthesis, so it is public like
//! `/v1/voices` and costs no key's usage. What keeps a public endpoint that synthesizes cheap: the
//! text is fixed per language (callers choose only the voice), and each voice's MP3 is made once
//! per process and kept in memory (a few tens of KB each; the catalogue bounds the entries).
//! Concurrent first requests for a voice wait for the same synthesis (a `OnceCell` per voice); a
//! failed synthesis leaves the cell empty, so the next request tries again. The synthesis takes
//! an admission slot like any other, so a burst of first previews is shed with 429, never queued
//! without bound. Previews do not go through the result cache: that cache is per API key on
//! servers that scope it so, and a preview belongs to no key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use polyvox_core::request::FieldNames;
use polyvox_core::{ErrorCode, Lang, Limits, RawSynthesisRequest, VOICES, VoiceInfo};
use tokio::sync::OnceCell;

use crate::app::AppState;
use crate::error::ApiError;
use crate::speech::StreamOptions;

/// A preview longer than this is a bug somewhere (a sample is a few seconds of MP3).
const MAX_PREVIEW_BYTES: usize = 2 * 1024 * 1024;

/// Browsers may keep a preview for a day: it changes only when the model or voices do.
const CACHE_CONTROL: &str = "public, max-age=86400";

/// The made previews, one cell per voice id.
#[derive(Default)]
pub(crate) struct Previews {
    cells: Mutex<HashMap<&'static str, Arc<OnceCell<Bytes>>>>,
}

impl Previews {
    fn cell(&self, id: &'static str) -> Arc<OnceCell<Bytes>> {
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(cells.entry(id).or_default())
    }
}

/// The sample sentence for a voice: its name where the language reads Latin names well.
pub(crate) fn preview_text(voice: &VoiceInfo) -> String {
    match voice.lang {
        Lang::EnUs | Lang::EnGb => format!(
            "Hello, I'm {}. This is how I sound reading your text aloud.",
            voice.name
        ),
        Lang::Ja => "こんにちは。これは私の声のサンプルです。".into(),
        Lang::Zh => "你好，这是我的声音样本。".into(),
        Lang::Ko => "안녕하세요. 제 목소리 샘플입니다.".into(),
        Lang::Es => format!("Hola, soy {}. Así suena mi voz.", voice.name),
        Lang::Fr => format!("Bonjour, je suis {}. Voici ma voix.", voice.name),
        Lang::Hi => "नमस्ते, यह मेरी आवाज़ का नमूना है।".into(),
        Lang::It => format!("Ciao, sono {}. Ecco la mia voce.", voice.name),
        Lang::PtBr => format!("Olá, eu sou {}. Esta é a minha voz.", voice.name),
    }
}

/// A short MP3 of one voice reading a fixed sentence in its language. Public; made once per
/// server process and then served from memory.
#[utoipa::path(
    get,
    path = "/v1/voices/{voice}/preview",
    tag = "catalogue",
    security(()),
    params(("voice" = String, Path, description = "Voice id (`af_bella`), display name (`Bella`) or OpenAI name (`shimmer`)")),
    responses(
        (status = 200, description = "MP3 of a fixed sample sentence in the voice's language; `Cache-Control: public, max-age=86400`", content_type = "audio/mpeg"),
        (status = 404, description = "No such voice (`not_found`)", body = crate::error::ErrorBody),
        (status = 400, description = "The voice's language is not spoken by this server (`unsupported_language`)", body = crate::error::ErrorBody),
        (status = 429, description = "Synthesis slots full; retry after `Retry-After` seconds", body = crate::error::ErrorBody),
        (status = 503, description = "Synthesis unavailable", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn voice_preview(
    State(st): State<AppState>,
    Path(voice): Path<String>,
) -> Result<Response, ApiError> {
    let info = polyvox_core::voice::resolve(&voice).ok_or_else(|| {
        ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::NotFound,
            format!(
                "voice '{}' does not exist; GET /v1/voices lists the {} voices",
                voice.chars().take(64).collect::<String>(),
                VOICES.len()
            ),
        ))
    })?;
    if !st.speech.languages().contains(&info.lang) {
        return Err(ApiError::Domain(polyvox_core::Error::new(
            ErrorCode::UnsupportedLanguage,
            format!(
                "voice {} speaks {}, which this server does not support; GET /v1/languages lists the supported ones",
                info.id,
                info.lang.code()
            ),
        )));
    }
    let cell = st.previews.cell(info.id);
    let audio = cell.get_or_try_init(|| synthesize(&st, info)).await?;
    let mut res = audio.clone().into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/mpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    Ok(res)
}

async fn synthesize(st: &AppState, info: &'static VoiceInfo) -> Result<Bytes, ApiError> {
    let raw = RawSynthesisRequest {
        text: preview_text(info),
        voice: Some(info.id.to_string()),
        lang: Some(info.lang.code().to_string()),
        speed: None,
        format: Some("mp3".into()),
    };
    let req = raw.validate(&Limits::default(), FieldNames::OPENAI)?;
    let _permit = st.admission.admit().await?;
    let opts = StreamOptions {
        low_latency_start: false,
        whole_file: true,
        keep_file: false,
        file_head: false,
        background: false,
        timestamps: false,
    };
    let stream = st.speech.synthesize(req, opts).await.map_err(|e| {
        if e.code == ErrorCode::QueueFull {
            ApiError::QueueFull {
                retry_after: st.cfg.retry_after,
            }
        } else {
            ApiError::Domain(e)
        }
    })?;
    let mut bytes = stream.bytes;
    let mut out = BytesMut::new();
    while let Some(piece) = bytes.next().await {
        out.extend_from_slice(&piece?);
        if out.len() > MAX_PREVIEW_BYTES {
            return Err(ApiError::Internal(format!(
                "preview of {} exceeds {MAX_PREVIEW_BYTES} bytes",
                info.id
            )));
        }
    }
    tracing::info!(voice = info.id, bytes = out.len(), "voice preview made");
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_voice_has_a_valid_preview_request() {
        for v in VOICES {
            let raw = RawSynthesisRequest {
                text: preview_text(v),
                voice: Some(v.id.into()),
                lang: Some(v.lang.code().into()),
                speed: None,
                format: Some("mp3".into()),
            };
            let req = raw
                .validate(&Limits::default(), FieldNames::OPENAI)
                .unwrap_or_else(|e| panic!("{}: {e}", v.id));
            assert_eq!(req.voice.canonical(), v.id);
            assert_eq!(req.lang, v.lang);
        }
    }
}

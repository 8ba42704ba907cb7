//! The generated OpenAPI document. Each handler carries its `#[utoipa::path]`; this list must name
//! every route, which the test suite checks against the router.

use utoipa::OpenApi;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};

use crate::error;
use crate::routes::{catalog, jobs, lexicons, speech, usage, web};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Polyvox",
        description = "Self-hosted text-to-speech on Kokoro-82M. `POST /v1/audio/speech` is a drop-in for OpenAI's \
            endpoint. Every error body is `{\"error\":{\"code\",\"message\",\"request_id\"}}`; every response carries \
            `X-Request-Id`. Speech, jobs and usage need `Authorization: Bearer <key>` unless the server runs with \
            `--no-auth`; the catalogue, health probes, docs and web page are public."
    ),
    modifiers(&BearerAuth),
    paths(
        speech::create_speech,
        speech::live::live_speech,
        jobs::create_job,
        jobs::get_job,
        jobs::cancel_job,
        jobs::audio::job_audio,
        jobs::timestamps::job_timestamps,
        jobs::timestamps::job_captions,
        jobs::compat::generate,
        catalog::list_voices,
        catalog::preview::voice_preview,
        catalog::list_languages,
        catalog::list_models,
        catalog::live,
        catalog::ready,
        web::index,
        web::static_asset,
        web::docs,
        web::openapi_json,
        usage::usage,
        lexicons::put_lexicon,
        lexicons::get_lexicon,
        lexicons::list_lexicons,
        lexicons::delete_lexicon,
    ),
    components(schemas(error::ErrorBody, error::ErrorObject, jobs::JobView, jobs::JobAccepted, speech::SpeechWithTimestamps, speech::WordTimestamp, speech::live::LiveSessionRequest, jobs::timestamps::JobTimestamps, lexicons::LexiconPut, lexicons::LexiconView, lexicons::LexiconEntryView, lexicons::LexiconList, lexicons::LexiconSummaryView)),
    tags(
        (name = "speech", description = "Speech synthesis"),
        (name = "jobs", description = "Asynchronous synthesis jobs, and the legacy `/tts/generate` alias"),
        (name = "catalogue", description = "Voices, languages and models"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "web", description = "Web page, docs and this document"),
        (name = "usage", description = "Usage metering per API key"),
        (name = "lexicons", description = "Pronunciation lexicons per API key, applied by name in speech and job requests"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme and requires it by default; the public routes override it with an
/// empty requirement (`security(())` on their paths: `"security": [{}]`).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("pvx_<id>_<secret>")
                    .build(),
            ),
        );
        doc.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The document as JSON bytes, with the crate version filled in.
pub(crate) fn document() -> Vec<u8> {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.to_json().map(String::into_bytes).unwrap_or_default()
}

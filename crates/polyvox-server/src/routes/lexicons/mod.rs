//! `/v1/lexicons`: a key's pronunciation lexicons, and their resolution when a request names
//! them (`"lexicons": ["brand"]` on `/v1/audio/speech` and `/v1/jobs`).
//!
//! Design: a lexicon belongs to the key that wrote it (the anonymous owner without keys); every
//! lookup is by owner and name, so another key's lexicon is indistinguishable from none (404).
//! A request's names are resolved here, at the boundary, into the entries themselves (with their
//! version), which then travel inside the typed request: the cache key hashes them and a worker
//! applies them without a database of its own.

use axum::Extension;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use polyvox_core::lexicon::{self, Lexicon, LexiconLimits, RawEntry, RawLexicon};
use polyvox_core::{Error, ErrorCode};
use polyvox_infra::db::{LexiconStore, PutLexicon, StoredLexicon, unix_millis};
use serde::Serialize;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::tenancy::Caller;

/// Media type of W3C PLS documents.
pub const PLS_MEDIA_TYPE: &str = "application/pls+xml";

/// One entry: `grapheme` and exactly one of `phoneme` and `alias`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LexiconEntryView {
    /// The written form to replace. All lower case: matches any case; with a capital: only
    /// itself. Matched at word boundaries; a space matches any whitespace. At most 100
    /// characters.
    #[schema(example = "Polyvox")]
    pub grapheme: String,
    /// Phonemes in the model's alphabet (Kokoro IPA; misaki's `A I O W Y Q` for English
    /// diphthongs); every symbol must be in the model's vocabulary. At most 200 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "pˈɑlivɑks")]
    pub phoneme: Option<String>,
    /// Text read in the grapheme's place. At most 200 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "polly vox")]
    pub alias: Option<String>,
    /// Language this entry applies to (default: the lexicon's `lang`, else every language).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "en-us")]
    pub lang: Option<String>,
}

/// Body of `PUT /v1/lexicons/{name}` as JSON (or send a W3C PLS document as
/// `application/pls+xml`).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct LexiconPut {
    /// Language of entries that name none; without it they apply in every language.
    #[schema(example = "en-us")]
    pub lang: Option<String>,
    /// 1 to 1000 entries. Where several match at one place the longest grapheme wins.
    pub entries: Vec<LexiconEntryView>,
}

/// A lexicon as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LexiconView {
    #[schema(example = "brand")]
    pub name: String,
    /// 1 when created, one more on every `PUT`.
    pub version: u64,
    pub lang: Option<String>,
    pub entries: Vec<LexiconEntryView>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// One lexicon in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LexiconSummaryView {
    pub name: String,
    pub version: u64,
    pub lang: Option<String>,
    /// Number of entries.
    pub entries: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// `GET /v1/lexicons`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LexiconList {
    /// The caller's lexicons, by name.
    pub lexicons: Vec<LexiconSummaryView>,
    /// How many lexicons a key may keep.
    pub max_lexicons: usize,
    /// How many a request may name.
    pub max_per_request: usize,
    /// Every symbol a `phoneme` may use.
    pub phoneme_symbols: String,
}

fn store(st: &AppState) -> Result<&dyn LexiconStore, ApiError> {
    st.lexicons.as_deref().ok_or_else(|| {
        ApiError::Domain(Error::new(
            ErrorCode::ServiceUnavailable,
            "pronunciation lexicons are not configured on this server (they need its database)",
        ))
    })
}

fn not_found(name: &str, field: &str) -> ApiError {
    ApiError::Domain(Error::new(
        ErrorCode::LexiconNotFound,
        format!("{field}: this key has no lexicon named '{name}'; GET /v1/lexicons lists them"),
    ))
}

fn view(s: StoredLexicon) -> LexiconView {
    LexiconView {
        name: s.lexicon.name.clone(),
        version: s.lexicon.version,
        lang: s.lexicon.lang.map(|l| l.code().to_string()),
        entries: s
            .lexicon
            .entries
            .iter()
            .map(|e| {
                let r = RawEntry::from(e);
                LexiconEntryView {
                    grapheme: r.grapheme,
                    phoneme: r.phoneme,
                    alias: r.alias,
                    lang: r.lang,
                }
            })
            .collect(),
        created_at_ms: unix_millis(s.created_at),
        updated_at_ms: unix_millis(s.updated_at),
    }
}

/// Resolves the lexicons a request names into `req`. With SSML input they apply to the
/// document's words and `<sub>` aliases; a `<phoneme>` keeps its own IPA.
pub(crate) async fn apply(
    st: &AppState,
    caller: &Caller,
    names: Option<&[String]>,
    req: &mut polyvox_core::SynthesisRequest,
) -> Result<(), ApiError> {
    req.lexicons = resolve(st, caller, names).await?;
    Ok(())
}

/// Resolves the lexicons a request names into their entries, in order, for `caller`.
pub(crate) async fn resolve(
    st: &AppState,
    caller: &Caller,
    names: Option<&[String]>,
) -> Result<Vec<Lexicon>, ApiError> {
    let names = names.unwrap_or_default();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let limits = LexiconLimits::default();
    lexicon::check_request_names(names, &limits)?;
    let store = store(st)?;
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let found = store
            .get_lexicon(caller.owner(), name)
            .await
            .map_err(crate::jobs::infra)?
            .ok_or_else(|| not_found(name, &format!("lexicons[{i}]")))?;
        out.push(found.lexicon);
    }
    Ok(out)
}

/// The body of a `PUT`: JSON, or a PLS document by its media type.
pub(crate) struct LexiconBody(RawLexicon);

impl FromRequest<AppState> for LexiconBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            essence.as_str(),
            PLS_MEDIA_TYPE | "application/xml" | "text/xml"
        ) {
            let ApiJson(body) = ApiJson::<LexiconPut>::from_request(req, state).await?;
            return Ok(Self(RawLexicon {
                lang: body.lang,
                entries: body
                    .entries
                    .into_iter()
                    .map(|e| RawEntry {
                        grapheme: e.grapheme,
                        phoneme: e.phoneme,
                        alias: e.alias,
                        lang: e.lang,
                    })
                    .collect(),
            }));
        }
        let bytes =
            crate::extract::read_body(req, state.cfg.max_body_bytes, state.cfg.body_idle_timeout)
                .await?;
        let doc = std::str::from_utf8(&bytes).map_err(|e| {
            ApiError::Domain(Error::new(
                ErrorCode::InvalidLexicon,
                format!("PLS document is not UTF-8: {e}"),
            ))
        })?;
        Ok(Self(lexicon::pls::parse(doc)?))
    }
}

#[utoipa::path(
    put,
    path = "/v1/lexicons/{name}",
    tag = "lexicons",
    params(("name" = String, Path, description = "1 to 64 characters of `a-z`, `0-9`, `_` and `-`")),
    request_body(content(
        (LexiconPut = "application/json"),
        (String = "application/pls+xml")
    )),
    responses(
        (status = 201, description = "Created at version 1", body = LexiconView),
        (status = 200, description = "Replaced; `version` is one more than before", body = LexiconView),
        (status = 400, description = "`invalid_lexicon` (name, grapheme, language, a phoneme symbol outside the model's vocabulary, a malformed PLS document with its line and column) or `too_many_lexicons` (the key keeps 100 at most)", body = crate::error::ErrorBody),
        (status = 413, description = "`lexicon_too_large`: more than 1000 entries, or a grapheme or reading over its length; `payload_too_large`: the body", body = crate::error::ErrorBody),
        (status = 415, description = "Neither JSON nor `application/pls+xml`", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn put_lexicon(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    LexiconBody(raw): LexiconBody,
) -> Result<Response, ApiError> {
    let limits = LexiconLimits::default();
    let lex = raw.validate(&name, &limits)?;
    let stored = match store(&st)?
        .put_lexicon(caller.owner(), &lex, limits.max_per_owner)
        .await
        .map_err(crate::jobs::infra)?
    {
        PutLexicon::Stored(s) => s,
        PutLexicon::TooMany { limit } => {
            return Err(ApiError::Domain(Error::new(
                ErrorCode::TooManyLexicons,
                format!(
                    "this key already has {limit} lexicons, the limit; delete one or reuse a name"
                ),
            )));
        }
    };
    let status = if stored.lexicon.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view(stored))).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/lexicons/{name}",
    tag = "lexicons",
    params(("name" = String, Path, description = "The lexicon's name")),
    responses(
        (status = 200, description = "The lexicon with every entry", body = LexiconView),
        (status = 404, description = "`lexicon_not_found`: none of this key's lexicons has that name", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn get_lexicon(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<axum::Json<LexiconView>, ApiError> {
    lexicon::check_name(&name, "name")?;
    let found = store(&st)?
        .get_lexicon(caller.owner(), &name)
        .await
        .map_err(crate::jobs::infra)?
        .ok_or_else(|| not_found(&name, "name"))?;
    Ok(axum::Json(view(found)))
}

#[utoipa::path(
    get,
    path = "/v1/lexicons",
    tag = "lexicons",
    responses((status = 200, description = "The caller's lexicons and the limits", body = LexiconList))
)]
pub(crate) async fn list_lexicons(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<axum::Json<LexiconList>, ApiError> {
    let limits = LexiconLimits::default();
    let listed = store(&st)?
        .list_lexicons(caller.owner())
        .await
        .map_err(crate::jobs::infra)?;
    Ok(axum::Json(LexiconList {
        lexicons: listed
            .into_iter()
            .map(|l| LexiconSummaryView {
                name: l.name,
                version: l.version,
                lang: l.lang,
                entries: l.entries,
                created_at_ms: unix_millis(l.created_at),
                updated_at_ms: unix_millis(l.updated_at),
            })
            .collect(),
        max_lexicons: limits.max_per_owner,
        max_per_request: limits.max_per_request,
        phoneme_symbols: lexicon::PHONEME_SYMBOLS.to_string(),
    }))
}

#[utoipa::path(
    delete,
    path = "/v1/lexicons/{name}",
    tag = "lexicons",
    params(("name" = String, Path, description = "The lexicon's name")),
    responses(
        (status = 204, description = "Deleted; requests naming it now get `lexicon_not_found`"),
        (status = 404, description = "`lexicon_not_found`", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn delete_lexicon(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    lexicon::check_name(&name, "name")?;
    if store(&st)?
        .delete_lexicon(caller.owner(), &name)
        .await
        .map_err(crate::jobs::infra)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name, "name"))
    }
}

//! The job payload: one versioned type that the API writes into a job row and the worker reads
//! back, carrying everything the request meant (text, language or per-sentence detection, voice or
//! blend, speed, format, delivery, lane). Nothing is assembled by hand on one side and re-parsed
//! with other field names on the other, and the cache key is derived from it, so a job renders
//! exactly what the synchronous path would for the same key.
//!
//! Compatibility: rows written before the payload had a version (`{"text", "voice", "lang", …}`,
//! where `lang` was always filled in) still read, as whole-file renders in that language — which
//! is how that version rendered them.

use serde::{Deserialize, Serialize};

use crate::request::FieldNames;
use crate::speech::StreamOptions;
use crate::{Error, ErrorCode, Limits, RawSynthesisRequest, SynthesisRequest};

/// Newest version this build writes; readers accept it and every older one.
pub const PAYLOAD_VERSION: u32 = 3;
/// Version of a payload every reader since version 2 renders as asked. A request with SSML or
/// lexicons is written as [`PAYLOAD_VERSION`] instead: a worker of an older release (during a
/// rolling upgrade) would ignore those fields and read the markup aloud or skip the lexicon, so
/// it must refuse the row rather than render it wrong.
const PLAIN_PAYLOAD_VERSION: u32 = 2;

/// Which queue lane a job travels in. Interactive jobs are always read first so that long batch
/// work cannot starve short requests a user is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Interactive,
    Batch,
}

impl Lane {
    /// Lanes in the order consumers read them.
    pub const BY_PRIORITY: [Lane; 2] = [Lane::Interactive, Lane::Batch];

    /// Stable name, used in the database and in queue keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Batch => "batch",
        }
    }

    /// The lanes of `wanted`, in the order consumers read them.
    pub fn by_priority(wanted: &[Lane]) -> impl Iterator<Item = Lane> + '_ {
        Self::BY_PRIORITY
            .into_iter()
            .filter(move |l| wanted.contains(l))
    }

    /// Inverse of [`Lane::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "interactive" => Some(Self::Interactive),
            "batch" => Some(Self::Batch),
            _ => None,
        }
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A synthesis job as the API accepted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeechJob {
    pub version: u32,
    pub request: SynthesisRequest,
    pub delivery: StreamOptions,
    pub lane: Lane,
    /// The worker publishes the audio as it is rendered and the outcome, so an API instance
    /// holding the client can relay them (cluster `/v1/audio/speech`); plain jobs are read from
    /// their row.
    #[serde(default)]
    pub relay: bool,
    /// With a per-key result cache (`--cache-scope key`), the key id whose private cache this
    /// job's result belongs to; `None` = the one cache every caller shares. Part of the cache
    /// key, so a worker caches where the API will look without knowing the setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_scope: Option<String>,
}

impl SpeechJob {
    pub fn new(request: SynthesisRequest, delivery: StreamOptions, lane: Lane) -> Self {
        let version = if request.ssml.is_some() || !request.lexicons.is_empty() {
            PAYLOAD_VERSION
        } else {
            PLAIN_PAYLOAD_VERSION
        };
        Self {
            version,
            request,
            delivery,
            lane,
            relay: false,
            cache_scope: None,
        }
    }

    /// The content address of this job's audio (see [`crate::cache_key`]).
    pub fn cache_key(&self) -> String {
        let key = crate::cache_key::cache_key(
            &self.request,
            self.delivery.low_latency_start,
            crate::MODEL_ID,
            crate::FRONTEND_VERSION,
        );
        let key = match &self.cache_scope {
            Some(owner) => format!("{key}:key={owner}"),
            None => key,
        };
        if !self.delivery.timestamps {
            return key;
        }
        // Timings are stored beside the audio and give offsets into the text as written, while
        // the audio's key folds whitespace: a timed result answers only the very same text.
        use sha2::Digest;
        let exact = sha2::Sha256::digest(self.request.text.as_bytes());
        format!("{key}:words={}", hex::encode(&exact[..16]))
    }

    /// What an `Idempotency-Key` is bound to: a digest of this validated job (text, voice,
    /// language, speed, format, delivery, lane, as the payload serializes them) and the webhook
    /// URL. Validated, not raw, so a retry that spells a default out (`"speed": 1`) is still the
    /// same request.
    pub fn fingerprint(&self, webhook_url: Option<&str>) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.to_row().to_string().as_bytes());
        h.update([0]);
        h.update(webhook_url.unwrap_or_default().as_bytes());
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    /// The payload as stored in the job row.
    pub fn to_row(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Reads a stored payload of any version; `lane` is the row's (older rows did not carry it).
    /// `max_input_chars` re-checks the one limit that depends on the deployment. A row no version
    /// can read is a `invalid_request` error: retrying it cannot help.
    pub fn from_row(
        row: &serde_json::Value,
        lane: Lane,
        max_input_chars: usize,
    ) -> Result<Self, Error> {
        let bad = |e: String| {
            Error::new(
                ErrorCode::InvalidRequest,
                format!("stored job payload is unreadable: {e}"),
            )
        };
        let job = match row.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v > u64::from(PAYLOAD_VERSION) => {
                return Err(bad(format!(
                    "version {v} is newer than this build reads ({PAYLOAD_VERSION})"
                )));
            }
            Some(_) => Self::deserialize(row).map_err(|e| bad(e.to_string()))?,
            None => {
                let raw = RawSynthesisRequest::deserialize(row).map_err(|e| bad(e.to_string()))?;
                let limits = Limits {
                    max_input_chars,
                    ..Limits::default()
                };
                let request = raw.validate(&limits, FieldNames::CLI)?;
                let delivery = StreamOptions {
                    whole_file: true,
                    ..StreamOptions::default()
                };
                let mut job = Self::new(request, delivery, lane);
                job.version = 1;
                job
            }
        };
        let chars = job.request.text.chars().count();
        if chars > max_input_chars {
            return Err(Error::new(
                ErrorCode::InputTooLong,
                format!("text has {chars} characters; the limit is {max_input_chars}"),
            ));
        }
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str, lang: Option<&str>) -> SynthesisRequest {
        RawSynthesisRequest {
            text: text.into(),
            voice: Some("af_bella(2)+af_sky(1)".into()),
            lang: lang.map(str::to_string),
            speed: Some(1.25),
            format: Some("opus".into()),
        }
        .validate(&Limits::default(), FieldNames::OPENAI)
        .expect("valid")
    }

    #[test]
    fn a_payload_reads_back_as_written_detection_included() {
        let delivery = StreamOptions {
            low_latency_start: true,
            keep_file: true,
            ..StreamOptions::default()
        };
        let mut job = SpeechJob::new(
            req("Hello there. こんにちは。", None),
            delivery,
            Lane::Interactive,
        );
        job.relay = true;
        assert!(
            job.request.auto_lang,
            "no lang given: detected per sentence"
        );
        let back = SpeechJob::from_row(&job.to_row(), Lane::Batch, 10_000).expect("reads");
        assert_eq!(back, job);
        assert_eq!(back.cache_key(), job.cache_key());
    }

    #[test]
    fn only_requests_an_older_worker_would_render_wrong_get_the_new_version() {
        let plain = SpeechJob::new(
            req("Hello.", Some("en-us")),
            StreamOptions::default(),
            Lane::Batch,
        );
        assert_eq!(
            plain.version, 2,
            "readable by every release since version 2"
        );
        let ssml = RawSynthesisRequest {
            text: "<speak>Hello <break time=\"300ms\"/> there.</speak>".into(),
            lang: Some("en-us".into()),
            ..RawSynthesisRequest::default()
        }
        .validate_as(
            Some(crate::ssml::InputFormat::Ssml),
            &Limits::default(),
            FieldNames::OPENAI,
        )
        .expect("valid ssml");
        let job = SpeechJob::new(ssml, StreamOptions::default(), Lane::Batch);
        assert_eq!(job.version, PAYLOAD_VERSION);
        assert!(
            job.version > plain.version,
            "a version-2 reader refuses the row"
        );
        let back = SpeechJob::from_row(&job.to_row(), Lane::Batch, 10_000).expect("reads");
        assert_eq!(back, job);
    }

    #[test]
    fn rows_of_the_previous_version_still_read() {
        let row = serde_json::json!({
            "text": "Hello.", "voice": "af_heart", "lang": "en-us", "speed": 1.0,
            "format": "wav", "cache_key": "abc"
        });
        let job = SpeechJob::from_row(&row, Lane::Batch, 10_000).expect("reads");
        assert_eq!(job.version, 1);
        assert!(!job.request.auto_lang);
        assert!(job.delivery.whole_file);
        assert_eq!(job.lane, Lane::Batch);
        assert_eq!(job.request.format, crate::AudioFormat::Wav);
    }

    #[test]
    fn unreadable_and_oversized_rows_are_clean_errors() {
        let newer = serde_json::json!({"version": PAYLOAD_VERSION + 1});
        let e = SpeechJob::from_row(&newer, Lane::Batch, 100).expect_err("newer");
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let mut row = SpeechJob::new(
            req("Hello there.", Some("en-us")),
            StreamOptions::default(),
            Lane::Batch,
        )
        .to_row();
        row["request"]["blend"] = serde_json::json!([["nobody", 1.0]]);
        let e = SpeechJob::from_row(&row, Lane::Batch, 100).expect_err("bad voice");
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let long = SpeechJob::new(
            req("Hello there.", Some("en-us")),
            StreamOptions::default(),
            Lane::Batch,
        );
        let e = SpeechJob::from_row(&long.to_row(), Lane::Batch, 5).expect_err("too long");
        assert_eq!(e.code, ErrorCode::InputTooLong);
    }

    #[test]
    fn a_scoped_job_has_a_key_of_its_own_and_keeps_it_through_the_row() {
        let global = SpeechJob::new(
            req("Hello.", Some("en-us")),
            StreamOptions::default(),
            Lane::Batch,
        );
        let mut a = global.clone();
        a.cache_scope = Some("key_a".into());
        let mut b = global.clone();
        b.cache_scope = Some("key_b".into());
        assert_ne!(a.cache_key(), global.cache_key());
        assert_ne!(a.cache_key(), b.cache_key());
        let back = SpeechJob::from_row(&a.to_row(), Lane::Batch, 100_000).unwrap();
        assert_eq!(
            back.cache_key(),
            a.cache_key(),
            "the worker derives the API's key"
        );
        // An unscoped payload serializes as before: rows and fingerprints are unchanged.
        assert!(global.to_row().get("cache_scope").is_none());
    }

    #[test]
    fn lexicons_travel_in_the_row_and_are_checked_again() {
        use crate::lexicon::{LexiconLimits, RawEntry, RawLexicon};
        let plain = SpeechJob::new(
            req("Polyvox.", Some("en-us")),
            StreamOptions::default(),
            Lane::Batch,
        );
        assert!(
            plain.to_row()["request"].get("lexicons").is_none(),
            "rows without lexicons are unchanged"
        );
        let mut job = plain.clone();
        let mut lex = RawLexicon {
            lang: Some("en-us".into()),
            entries: vec![RawEntry {
                grapheme: "Polyvox".into(),
                phoneme: Some("pˈɑlivɑks".into()),
                ..Default::default()
            }],
        }
        .validate("brand", &LexiconLimits::default())
        .unwrap();
        lex.version = 3;
        job.request.lexicons = vec![lex];
        let back = SpeechJob::from_row(&job.to_row(), Lane::Batch, 100).expect("reads");
        assert_eq!(back, job);
        assert_eq!(back.cache_key(), job.cache_key());
        assert_ne!(job.cache_key(), plain.cache_key());
        let mut row = job.to_row();
        row["request"]["lexicons"][0]["entries"][0]["phoneme"] = "p@lyvox".into();
        let e = SpeechJob::from_row(&row, Lane::Batch, 100).expect_err("tampered");
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains("phoneme"), "{}", e.message);
    }

    #[test]
    fn detection_and_plan_change_the_key() {
        let fixed = SpeechJob::new(
            req("Hello.", Some("en-us")),
            StreamOptions::default(),
            Lane::Batch,
        );
        let auto = SpeechJob::new(req("Hello.", None), StreamOptions::default(), Lane::Batch);
        assert_ne!(fixed.cache_key(), auto.cache_key());
        let mut streamed = fixed.clone();
        streamed.delivery.low_latency_start = true;
        assert_ne!(fixed.cache_key(), streamed.cache_key());
        let mut file = fixed.clone();
        file.delivery.whole_file = true;
        file.lane = Lane::Interactive;
        assert_eq!(
            fixed.cache_key(),
            file.cache_key(),
            "delivery form and lane do not change audio"
        );
    }
}

//! Stable, machine-readable error codes. The strings are API: clients match on them, so a code is
//! never renamed, only added.

use std::fmt;

/// Every user-visible failure has exactly one of these codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    EmptyInput,
    InputTooLong,
    InvalidUtf8,
    InvalidCharacter,
    VoiceNotFound,
    InvalidVoiceBlend,
    UnknownLanguage,
    UnsupportedLanguage,
    SpeedOutOfRange,
    UnsupportedFormat,
    InvalidRequest,
    InvalidJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    /// The job finished, but its audio passed its retention period and was deleted.
    AudioExpired,
    /// A pronunciation lexicon (body, PLS document or stored copy) breaks a rule: a bad name,
    /// grapheme or language, a phoneme outside the model's vocabulary, a repeated name.
    InvalidLexicon,
    /// A lexicon over a size limit: entries per lexicon, characters of a grapheme or reading.
    LexiconTooLarge,
    /// A lexicon named in the path or in a request's `lexicons` does not exist for this key.
    LexiconNotFound,
    /// More lexicons than allowed: per key (`PUT` of a new one) or per request (`lexicons`).
    TooManyLexicons,
    QueueFull,
    Timeout,
    ModelUnavailable,
    /// A dependency (database, queue, cache or storage) failed in a way that usually passes:
    /// connection lost, pool exhausted, server restarting.
    ServiceUnavailable,
    AssetMissing,
    SynthesisFailed,
    OutputUnwritable,
    Internal,
    /// No, a malformed, an unknown or a revoked API key.
    Unauthorized,
    /// A per-key requests- or characters-per-minute limit refused the request.
    RateLimited,
    /// The key's monthly character quota is used up.
    QuotaExceeded,
    /// The job behind the request was cancelled (`DELETE /v1/jobs/{id}`) before it finished.
    JobCancelled,
    /// The `Idempotency-Key` was used before with a different request body.
    IdempotencyKeyReused,
    /// A `webhook_url` was given but this deployment sends no webhooks (no signing secret).
    WebhooksDisabled,
    /// The client stopped sending its request (body bytes stopped arriving).
    RequestTimeout,
    /// The key already has as many syntheses in progress as it may (per-key concurrency cap).
    ConcurrencyLimited,
    /// Too many failed authentications came from this client address; retry later.
    TooManyAuthFailures,
    /// The job's worker stopped heartbeating (it died or hung) on its last attempt: nothing says
    /// the input is at fault, so a later retry may well succeed.
    LeaseExpired,
    /// The job's attempts died with their worker up to the crash limit. It is not retried so
    /// that one input cannot take down worker after worker.
    WorkerCrashed,
    /// Word timestamps were asked of something that has none: a job submitted without
    /// `timestamps: word`, or a deployment whose synthesis cannot time words.
    TimestampsUnavailable,
    /// `input` is SSML (asked for, or starting with `<speak`) outside the supported subset or
    /// not well-formed; the message names the line and column.
    InvalidSsml,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EmptyInput => "empty_input",
            Self::InputTooLong => "input_too_long",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidCharacter => "invalid_character",
            Self::VoiceNotFound => "voice_not_found",
            Self::InvalidVoiceBlend => "invalid_voice_blend",
            Self::UnknownLanguage => "unknown_language",
            Self::UnsupportedLanguage => "unsupported_language",
            Self::SpeedOutOfRange => "speed_out_of_range",
            Self::UnsupportedFormat => "unsupported_format",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidJson => "invalid_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound => "not_found",
            Self::AudioExpired => "audio_expired",
            Self::InvalidLexicon => "invalid_lexicon",
            Self::LexiconTooLarge => "lexicon_too_large",
            Self::LexiconNotFound => "lexicon_not_found",
            Self::TooManyLexicons => "too_many_lexicons",
            Self::QueueFull => "queue_full",
            Self::Timeout => "timeout",
            Self::ModelUnavailable => "model_unavailable",
            Self::ServiceUnavailable => "service_unavailable",
            Self::AssetMissing => "asset_missing",
            Self::SynthesisFailed => "synthesis_failed",
            Self::OutputUnwritable => "output_unwritable",
            Self::Internal => "internal",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::JobCancelled => "job_cancelled",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::WebhooksDisabled => "webhooks_disabled",
            Self::RequestTimeout => "request_timeout",
            Self::ConcurrencyLimited => "concurrency_limited",
            Self::TooManyAuthFailures => "too_many_auth_failures",
            Self::LeaseExpired => "lease_expired",
            Self::WorkerCrashed => "worker_crashed",
            Self::TimestampsUnavailable => "timestamps_unavailable",
            Self::InvalidSsml => "invalid_ssml",
        }
    }

    /// The HTTP status this code maps to; one table for the whole API.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::EmptyInput
            | Self::InvalidUtf8
            | Self::InvalidCharacter
            | Self::VoiceNotFound
            | Self::InvalidVoiceBlend
            | Self::UnknownLanguage
            | Self::UnsupportedLanguage
            | Self::SpeedOutOfRange
            | Self::UnsupportedFormat
            | Self::InvalidRequest
            | Self::InvalidJson
            | Self::InvalidSsml
            | Self::InvalidLexicon
            | Self::TooManyLexicons => 400,
            Self::InputTooLong | Self::PayloadTooLarge | Self::LexiconTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::NotFound | Self::LexiconNotFound => 404,
            Self::JobCancelled | Self::IdempotencyKeyReused => 409,
            Self::WebhooksDisabled | Self::TimestampsUnavailable => 422,
            Self::RequestTimeout => 408,
            Self::AudioExpired => 410,
            Self::QueueFull
            | Self::RateLimited
            | Self::QuotaExceeded
            | Self::ConcurrencyLimited
            | Self::TooManyAuthFailures => 429,
            Self::Unauthorized => 401,
            Self::Timeout => 504,
            Self::ModelUnavailable
            | Self::AssetMissing
            | Self::ServiceUnavailable
            | Self::LeaseExpired => 503,
            // Not 4xx: a crash may come from the input or from the machine (the out-of-memory
            // killer, a deploy), and nothing tells which.
            Self::SynthesisFailed
            | Self::OutputUnwritable
            | Self::Internal
            | Self::WorkerCrashed => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validation or domain error: a code plus a message that names the field and the limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_store_codes_round_trip_and_are_server_faults() {
        for (code, text, status) in [
            (ErrorCode::LeaseExpired, "lease_expired", 503),
            (ErrorCode::WorkerCrashed, "worker_crashed", 500),
            (ErrorCode::SynthesisFailed, "synthesis_failed", 500),
        ] {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.http_status(), status, "{text}");
            // Stored as text by the job store and read back by the API: serde agrees with as_str.
            assert_eq!(serde_json::to_value(code).expect("json"), text);
            let back: ErrorCode = serde_json::from_value(text.into()).expect("known code");
            assert_eq!(back, code);
        }
    }
}

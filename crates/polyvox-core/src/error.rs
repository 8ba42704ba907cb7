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
            | Self::InvalidJson => 400,
            Self::InputTooLong | Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::NotFound => 404,
            Self::JobCancelled | Self::IdempotencyKeyReused => 409,
            Self::WebhooksDisabled => 422,
            Self::RequestTimeout => 408,
            Self::AudioExpired => 410,
            Self::QueueFull
            | Self::RateLimited
            | Self::QuotaExceeded
            | Self::ConcurrencyLimited
            | Self::TooManyAuthFailures => 429,
            Self::Unauthorized => 401,
            Self::Timeout => 504,
            Self::ModelUnavailable | Self::AssetMissing | Self::ServiceUnavailable => 503,
            Self::SynthesisFailed | Self::OutputUnwritable | Self::Internal => 500,
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

//! The worker's one error type. What matters to the job loop is [`WorkerError::is_retryable`]:
//! it decides between handing the job back with a backoff and dead-lettering it.

use polyvox_core::ErrorCode;
use polyvox_infra::InfraError;

/// Why one attempt at a job failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The stored request no longer validates (written by another version, or tampered with).
    #[error("job request is invalid: {0}")]
    BadRequest(String),
    /// Synthesis failed; the code says whether it was the input or the machine.
    #[error("synthesis: {0}")]
    Synthesis(#[from] polyvox_core::Error),
    /// A database, queue, storage or cache call failed.
    #[error(transparent)]
    Infra(#[from] InfraError),
}

impl WorkerError {
    /// The stable code recorded on the job.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::InvalidRequest,
            Self::Synthesis(e) => e.code,
            Self::Infra(e) => e.code(),
        }
    }

    /// Retry (with backoff) or abort. Input problems never heal by waiting; an overloaded or
    /// unavailable engine and flaky infrastructure may.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::BadRequest(_) => false,
            Self::Synthesis(e) => matches!(
                e.code,
                ErrorCode::QueueFull
                    | ErrorCode::Timeout
                    | ErrorCode::ModelUnavailable
                    | ErrorCode::SynthesisFailed
                    | ErrorCode::Internal
            ),
            Self::Infra(e) => e.is_retryable(),
        }
    }

    /// [`WorkerError::is_retryable`] for attempt number `attempt` (1-based). The model failing
    /// on an input (`synthesis_failed`) may be a fluke once; twice on the same input it is the
    /// input, and further attempts would only take worker time from other jobs. Storage,
    /// database and queue blips, overload and timeouts retry while attempts last.
    pub fn retry_at(&self, attempt: u32) -> bool {
        match self {
            Self::Synthesis(e) if e.code == ErrorCode::SynthesisFailed => attempt < 2,
            _ => self.is_retryable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_abort_and_machine_errors_retry() {
        let input = WorkerError::Synthesis(polyvox_core::Error::new(ErrorCode::VoiceNotFound, "x"));
        assert!(!input.is_retryable());
        assert_eq!(input.code(), ErrorCode::VoiceNotFound);
        let busy = WorkerError::Synthesis(polyvox_core::Error::new(ErrorCode::QueueFull, "busy"));
        assert!(busy.is_retryable());
        let timeout = WorkerError::Infra(InfraError::Timeout {
            system: "s3",
            op: "put",
            after_ms: 1,
        });
        assert!(timeout.is_retryable());
        let conflict = WorkerError::Infra(InfraError::Conflict("lost lease".into()));
        assert!(!conflict.is_retryable());
        assert!(!WorkerError::BadRequest("no".into()).is_retryable());
        // A model failure is retried once, then the input is taken to be the cause.
        let model =
            WorkerError::Synthesis(polyvox_core::Error::new(ErrorCode::SynthesisFailed, "x"));
        assert!(model.retry_at(1) && !model.retry_at(2));
        assert!(busy.retry_at(5), "overload retries while attempts last");
    }
}

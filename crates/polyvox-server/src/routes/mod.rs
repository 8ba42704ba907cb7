//! The HTTP handlers, a folder per resource, so this folder lists the API: `speech`
//! (`/v1/audio/speech`), `jobs` (`/v1/jobs…` and the `/tts/generate` alias), `usage`
//! (`/v1/usage`), `lexicons` (`/v1/lexicons…`), `catalog` (voices, languages, models, health) and `web` (page, docs, OpenAPI).
//! Handlers validate into typed requests and call the services (`crate::jobs`, the speech
//! interface); they hold no state of their own.

pub(crate) mod catalog;
pub(crate) mod jobs;
pub(crate) mod lexicons;
pub(crate) mod speech;
pub(crate) mod usage;
pub(crate) mod web;

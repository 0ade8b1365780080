//! mintoken-compress: the pure, I/O-free half of mintoken.
//!
//! It owns what decides *how much* the model is asked to compress its answer (the
//! [`Intensity`] levels), the byte-stable skill texts injected into system prompts, the
//! context-compression levels and token counting. Nothing here touches the network, a
//! clock or a database, so it can be fuzzed, benchmarked and reused on its own.
#![forbid(unsafe_code)]

pub mod classifier;
pub mod context;
mod context_level;
pub mod input;
mod intensity;
pub mod skill;
pub mod tokens;

pub use context_level::{ContextLevel, ParseContextLevelError};
pub use intensity::{Intensity, ParseIntensityError};

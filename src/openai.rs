//! The OpenAI model of the world, in pure code: rate-limit buckets, latency and length draws,
//! token accounting, error bodies and the dated data behind them (`mocks/`). The stub serves from
//! it ([`world::serve`]), and the run and the planner reuse it, so there is exactly one copy of each rule.
//! Nothing here touches tokio, the network or the clock: time and randomness come in as arguments.

pub mod bucket;
pub mod catalog;
pub mod duration;
pub mod errors;
pub mod latency;
pub mod prompt_cache;
pub mod reasoning;
pub mod retry;
pub mod tokens;
pub mod world;

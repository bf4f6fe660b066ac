//! postload: measure an OpenAI-backed marketing-post service under load, against the real
//! service or a faithful OpenAI stub.

pub mod openai;
pub mod clock;
pub mod stub;

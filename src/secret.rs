//! [`Secret`]: an API key or header value that must never be shown. Scenario targets, the run's
//! OpenAI calls and the example service all hold their keys in it.

/// A value that must not be shown: its `Debug` is `***`, and it has no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

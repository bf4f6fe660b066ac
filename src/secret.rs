//! What must never be shown: [`Secret`], an API key or header value (scenario targets, the run's
//! OpenAI calls and the example service hold their keys in it), and the parts of a URL that can
//! carry a key. [`shown_url`] is the one way any output (reports, console, errors) writes a URL
//! the user gave; [`join_url`] is the one way a request's path is put on such a URL.

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

/// A URL as every output shows it: without its user, password, query or fragment (a key can
/// hide in any of them), and without a trailing slash. A string that does not parse as a URL
/// loses the same parts by its text: everything from the first `?` or `#`, and anything before
/// an `@` in its authority.
pub fn shown_url(url: &str) -> String {
    if let Ok(mut u) = url::Url::parse(url) {
        if u.has_host() {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            return u.as_str().trim_end_matches('/').to_string();
        }
    }
    let cut = url.find(['?', '#']).map_or(url, |i| &url[..i]);
    let (scheme, rest) = match cut.find("://") {
        Some(i) => cut.split_at(i + 3),
        None => ("", cut),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}{rest}").trim_end_matches('/').to_string()
}

/// `path` (starting with `/`, possibly with its own `?query`) put after the path of `base`:
/// `https://h/v1?api-version=1` and `/chat/completions` give
/// `https://h/v1/chat/completions?api-version=1`. The base's query is kept on every request
/// (a gateway's `api-version` or key), the path's own query appended to it; a fragment is never
/// sent. A base that does not parse is joined by text (it was checked before, so this is a
/// fallback, not a path taken).
pub fn join_url(base: &str, path: &str) -> String {
    let (path, path_query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let Ok(mut u) = url::Url::parse(base) else {
        return format!("{}{path}", base.trim_end_matches('/'));
    };
    if u.cannot_be_a_base() {
        return format!("{}{path}", base.trim_end_matches('/'));
    }
    let joined = format!("{}{path}", u.path().trim_end_matches('/'));
    u.set_path(&joined);
    u.set_fragment(None);
    if let Some(q) = path_query.filter(|q| !q.is_empty()) {
        let query = match u.query().filter(|b| !b.is_empty()) {
            Some(b) => format!("{b}&{q}"),
            None => q.to_string(),
        };
        u.set_query(Some(&query));
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_lose_user_password_query_and_fragment() {
        for (given, shown) in [
            (
                "https://user:pass@api.example.com/v1?key=sk-123#frag",
                "https://api.example.com/v1",
            ),
            ("http://127.0.0.1:9000/v1/", "http://127.0.0.1:9000/v1"),
            ("https://user@h/v1#k", "https://h/v1"),
            ("http://h:80", "http://h"),
            // Not URLs: the same parts go by their text.
            ("http://u:p@[bad/v1?key=sk", "http://[bad/v1"),
            ("u:p@host:x/v1#sk", "host:x/v1"),
            ("", ""),
        ] {
            assert_eq!(shown_url(given), shown, "{given}");
        }
    }

    #[test]
    fn a_query_on_the_base_url_no_longer_swallows_the_path() {
        // Before: format!("{base}/chat/completions") sent `POST /v1?key=k/chat/completions`.
        assert_eq!(
            join_url("http://h/v1?key=k", "/chat/completions"),
            "http://h/v1/chat/completions?key=k"
        );
        assert_eq!(
            join_url("http://h/v1/?a=1#frag", "/chat/completions?b=2"),
            "http://h/v1/chat/completions?a=1&b=2"
        );
        assert_eq!(
            join_url("http://u:p@h:81", "/api/post"),
            "http://u:p@h:81/api/post"
        );
        assert_eq!(
            join_url("http://h/v1", "/chat/completions"),
            "http://h/v1/chat/completions"
        );
    }
}

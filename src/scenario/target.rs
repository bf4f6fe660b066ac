//! A scenario's `[target]`: the service under test (service mode). Each post is one HTTP request
//! built from a JSON body template with per-post variables drawn from data lists, sent with
//! headers whose values may read environment variables (`"Bearer ${SERVICE_TOKEN}"`), and
//! answered with a status and, optionally, usage and model found by JSON pointers.
//!
//! Header values are secrets: they are resolved once, kept only in [`Secret`]s marked sensitive
//! for the HTTP client, and never serialized; reports name the headers, not their values.

mod template;

use std::collections::BTreeMap;

use crate::secret::Secret;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::template::{compile, render, Node};
pub use self::template::{default_body, PostVars};
use super::prompts::{BUSINESSES, OWN_IMAGE_PROMPTS};

fn default_method() -> String {
    "POST".into()
}
fn default_path() -> String {
    "/api/marketing-post".into()
}
fn default_status() -> u16 {
    200
}

/// `[target]` as written in a scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The service's root, e.g. `http://127.0.0.1:8000` (`--target` overrides it).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    /// Header values may name environment variables: `"Bearer ${SERVICE_TOKEN}"`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body, with `{{business}}`, `{{topic}}`, `{{platform}}`, `{{image_prompt}}`,
    /// `{{post}}` and `{{model}}` in its strings. A value that is only `{{image_prompt}}` is left
    /// out on posts that bring no image prompt.
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// JSON pointers the answer must hold, each a value that is not null nor an empty string
    /// (`["/caption"]`): a 200 without them fails as `bad_body`. Default: none (any JSON).
    #[serde(default)]
    pub expect_fields: Vec<String>,
    #[serde(default)]
    pub usage: UsagePointers,
    #[serde(default)]
    pub data: DataLists,
}

impl Default for TargetSpec {
    fn default() -> Self {
        Self {
            url: None,
            method: default_method(),
            path: default_path(),
            headers: BTreeMap::new(),
            body: None,
            expect_status: default_status(),
            expect_fields: Vec::new(),
            usage: UsagePointers::default(),
            data: DataLists::default(),
        }
    }
}

/// JSON pointers (RFC 6901) into the service's response. Defaults fit `postload
/// example-service` and any service that passes OpenAI's `usage` through; `""` turns one off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UsagePointers {
    pub prompt_tokens: String,
    pub completion_tokens: String,
    pub cached_tokens: String,
    pub model: String,
}

impl Default for UsagePointers {
    fn default() -> Self {
        Self {
            prompt_tokens: "/usage/prompt_tokens".into(),
            completion_tokens: "/usage/completion_tokens".into(),
            cached_tokens: "/usage/prompt_tokens_details/cached_tokens".into(),
            model: "/model".into(),
        }
    }
}

/// The lists per-post variables are drawn from (seeded, each independently).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DataLists {
    pub business: Vec<String>,
    pub topic: Vec<String>,
    pub platform: Vec<String>,
    /// Image prompts for the posts that bring one (the scenario's `image_prompt_share`).
    pub image_prompt: Vec<String>,
}

impl Default for DataLists {
    fn default() -> Self {
        Self {
            business: BUSINESSES.iter().map(|b| b.0.to_string()).collect(),
            topic: BUSINESSES.iter().map(|b| b.1.to_string()).collect(),
            platform: {
                let mut p: Vec<String> = BUSINESSES.iter().map(|b| b.2.to_string()).collect();
                p.sort();
                p.dedup();
                p
            },
            image_prompt: OWN_IMAGE_PROMPTS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A checked `[target]`, headers resolved, ready to build requests.
#[derive(Debug, Clone)]
pub struct ServiceTarget {
    /// The service's root, without a trailing slash.
    pub url: String,
    pub method: reqwest::Method,
    pub path: String,
    /// `url` + `path`, built once (not on every request).
    endpoint: String,
    /// (name, value) with environment variables substituted.
    pub headers: Vec<(reqwest::header::HeaderName, Secret)>,
    template: Node,
    pub expect_status: u16,
    pub expect_fields: Vec<String>,
    pub usage: UsagePointers,
    pub data: DataLists,
}

/// What the report says of a service target: no header values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceTargetInfo {
    pub url: String,
    pub method: String,
    pub path: String,
    /// Header names only; their values are never written.
    pub header_names: Vec<String>,
    pub expect_status: u16,
    pub usage: UsagePointers,
}

/// Substitutes `${NAME}` from `env` in a header value; `$$` is a literal `$`.
fn substitute(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').ok_or_else(|| "`${` without `}`".to_string())?;
            let name = &r[..end];
            if name.is_empty() {
                return Err("`${}` names no variable".into());
            }
            let v = env(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?;
            out.push_str(&v);
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn check_pointer(p: &str) -> bool {
    p.is_empty() || p.starts_with('/')
}

/// An error naming `f` under `target.`.
fn field(f: &str, m: String) -> (String, String) {
    (format!("target.{f}"), m)
}

impl TargetSpec {
    /// Checks the spec and resolves its headers from `env`. Errors name the field
    /// (`target.headers.Authorization`, `target.body.caption`, ...).
    pub fn resolve(
        &self,
        url_override: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServiceTarget, (String, String)> {
        let url = self.resolve_url(url_override)?;
        let method = self.resolve_method()?;
        if !self.path.starts_with('/') {
            return Err(field(
                "path",
                format!("`{}` must start with `/`", self.path),
            ));
        }
        let headers = self.resolve_headers(env)?;
        let template = self.template()?;
        self.check_usage_pointers()?;
        if self.expect_fields.len() > 32 {
            return Err(field("expect_fields", "at most 32 pointers".into()));
        }
        if let Some(p) = self
            .expect_fields
            .iter()
            .find(|p| !p.starts_with('/') || p.len() > 256)
        {
            return Err(field(
                "expect_fields",
                format!("`{p}` is not a JSON pointer (start with `/`, at most 256 bytes)"),
            ));
        }
        self.check_data_lists()?;
        if !(100..=599).contains(&self.expect_status) {
            return Err(field(
                "expect_status",
                format!("{} is not an HTTP status", self.expect_status),
            ));
        }
        let url = url.trim_end_matches('/').to_string();
        Ok(ServiceTarget {
            endpoint: crate::secret::join_url(&url, &self.path),
            url,
            method,
            path: self.path.clone(),
            headers,
            template,
            expect_status: self.expect_status,
            expect_fields: self.expect_fields.clone(),
            usage: self.usage.clone(),
            data: self.data.clone(),
        })
    }

    /// `--target`, else `url`: an http(s) URL with a host.
    fn resolve_url(&self, url_override: Option<&str>) -> Result<String, (String, String)> {
        let url = url_override
            .map(str::to_string)
            .or_else(|| self.url.clone())
            .ok_or_else(|| field("url", "give the service's URL here or with --target".into()))?;
        let shown = crate::secret::shown_url(&url);
        let parsed = url::Url::parse(&url).map_err(|e| field("url", format!("`{shown}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(field("url", format!("`{shown}` is not an http(s) URL")));
        }
        Ok(url)
    }

    /// A method that carries a body.
    fn resolve_method(&self) -> Result<reqwest::Method, (String, String)> {
        match self.method.to_ascii_uppercase().as_str() {
            m @ ("POST" | "PUT" | "PATCH") => {
                Ok(reqwest::Method::from_bytes(m.as_bytes()).expect("a standard method"))
            }
            other => Err(field(
                "method",
                format!("`{other}`: use POST, PUT or PATCH (a post has a body)"),
            )),
        }
    }

    /// Each header's name, and its value with environment variables substituted (checked as a
    /// header value, never echoed).
    fn resolve_headers(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<(reqwest::header::HeaderName, Secret)>, (String, String)> {
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let f = format!("headers.{name}");
            let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| field(&f, "not a valid header name".into()))?;
            let v = substitute(value, env).map_err(|m| field(&f, m))?;
            // Check the value now (and never echo it).
            reqwest::header::HeaderValue::from_str(&v)
                .map_err(|_| field(&f, "the value is not a valid header value".into()))?;
            headers.push((n, Secret::new(v)));
        }
        Ok(headers)
    }

    /// The body (the reference service's by default), compiled; an error names the value at
    /// fault (`target.body.caption`).
    fn template(&self) -> Result<Node, (String, String)> {
        let body = self.body.clone().unwrap_or_else(default_body);
        if !body.is_object() && !body.is_array() {
            return Err(field("body", "must be a table (a JSON object)".into()));
        }
        compile(&body, "body").map_err(|m| {
            let (f, rest) = m.split_once(": ").unwrap_or(("body", &m));
            field(f, rest.to_string())
        })
    }

    fn check_usage_pointers(&self) -> Result<(), (String, String)> {
        for (name, p) in [
            ("usage.prompt_tokens", &self.usage.prompt_tokens),
            ("usage.completion_tokens", &self.usage.completion_tokens),
            ("usage.cached_tokens", &self.usage.cached_tokens),
            ("usage.model", &self.usage.model),
        ] {
            if !check_pointer(p) {
                return Err(field(
                    name,
                    format!("`{p}` is not a JSON pointer (start with `/`, or \"\" for none)"),
                ));
            }
        }
        Ok(())
    }

    fn check_data_lists(&self) -> Result<(), (String, String)> {
        for (name, list) in [
            ("data.business", &self.data.business),
            ("data.topic", &self.data.topic),
            ("data.platform", &self.data.platform),
            ("data.image_prompt", &self.data.image_prompt),
        ] {
            if list.is_empty() {
                return Err(field(name, "must not be empty".into()));
            }
        }
        Ok(())
    }
}

/// What a service response said.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAnswer {
    pub tokens: Option<crate::metrics::cost::Tokens>,
    /// The response had a usage that could not be true (`UsageRead::Bad`).
    pub bad_usage: bool,
    pub model: Option<String>,
}

impl ServiceTarget {
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn info(&self) -> ServiceTargetInfo {
        ServiceTargetInfo {
            url: crate::secret::shown_url(&self.url),
            method: self.method.to_string(),
            path: self.path.clone(),
            header_names: self.headers.iter().map(|(n, _)| n.to_string()).collect(),
            expect_status: self.expect_status,
            usage: self.usage.clone(),
        }
    }

    /// Post `post`'s body. `rng` is the post's own stream; `brings_own` says whether it carries
    /// an image prompt.
    /// A post's body: the template with the post's variables, drawn from the data lists, or
    /// given by a trace (`given`: its row's values, each over the draw where the file has it).
    pub fn body(
        &self,
        post: u64,
        model: &str,
        brings_own: bool,
        given: Option<&super::trace::TracePost>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<u8> {
        let mut pick = |list: &[String]| -> usize { rng.random_range(0..list.len()) };
        let d = &self.data;
        let (b, t, p, i) = (
            pick(&d.business),
            pick(&d.topic),
            pick(&d.platform),
            pick(&d.image_prompt),
        );
        let given_or = |field: Option<&Option<String>>, drawn: &'_ str| -> String {
            field
                .and_then(Option::as_deref)
                .unwrap_or(drawn)
                .to_string()
        };
        let (business, topic, platform, image_prompt) = (
            given_or(given.map(|g| &g.business), &d.business[b]),
            given_or(given.map(|g| &g.topic), &d.topic[t]),
            given_or(given.map(|g| &g.platform), &d.platform[p]),
            given_or(
                given
                    .map(|g| &g.image_prompt)
                    .filter(|v| v.as_deref() != Some("")),
                &d.image_prompt[i],
            ),
        );
        let vars = PostVars {
            business: &business,
            topic: &topic,
            platform: &platform,
            image_prompt: brings_own.then_some(image_prompt.as_str()),
            post,
            model,
        };
        let v = render(&self.template, &vars).unwrap_or(Value::Null);
        serde_json::to_vec(&v).expect("a JSON value serializes")
    }

    /// Reads usage and model from a response body; `None` if it is not JSON or lacks an
    /// expected field.
    pub fn parse(&self, body: &[u8]) -> Option<ServiceAnswer> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let at = |p: &str| (!p.is_empty()).then(|| v.pointer(p)).flatten();
        // The fields the scenario expects: a 200 of `{"detail": "..."}` is no post.
        let holds = |p: &String| match v.pointer(p) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        };
        if !self.expect_fields.iter().all(holds) {
            return None;
        }
        // A post's usage sums its calls: no one call's max_tokens bounds it.
        let usage = crate::metrics::usage::UsageRead::read(
            at(&self.usage.prompt_tokens),
            at(&self.usage.completion_tokens),
            at(&self.usage.cached_tokens),
            None,
        );
        let bad_usage = usage == crate::metrics::usage::UsageRead::Bad;
        let tokens = usage.tokens();
        let model = (!self.usage.model.is_empty())
            .then(|| v.pointer(&self.usage.model)?.as_str().map(str::to_string))
            .flatten();
        Some(ServiceAnswer {
            tokens,
            bad_usage,
            model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn env(name: &str) -> Option<String> {
        (name == "SERVICE_TOKEN").then(|| "s3cret".to_string())
    }

    fn spec(text: &str) -> TargetSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn headers_read_the_environment_and_never_show() {
        let t = spec(
            r#"url = "http://127.0.0.1:8000"
               headers = { Authorization = "Bearer ${SERVICE_TOKEN}", X-Price = "$$5 $x" }"#,
        )
        .resolve(None, &env)
        .unwrap();
        let got: Vec<(String, &str)> = t
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.expose()))
            .collect();
        assert_eq!(
            got,
            [
                ("authorization".to_string(), "Bearer s3cret"),
                ("x-price".to_string(), "$5 $x")
            ]
        );
        assert!(!format!("{t:?}").contains("s3cret"));
        let info = serde_json::to_string(&t.info()).unwrap();
        assert!(info.contains("authorization") && !info.contains("s3cret"));
    }

    #[test]
    fn errors_name_the_field() {
        let err = |text: &str| spec(text).resolve(None, &env).unwrap_err();
        assert_eq!(
            err(r#"url = "http://x:1"
                   headers = { Authorization = "Bearer ${MISSING}" }"#),
            (
                "target.headers.Authorization".into(),
                "environment variable `MISSING` is not set".into()
            )
        );
        assert_eq!(err("").0, "target.url");
        assert_eq!(err(r#"url = "ftp://x""#).0, "target.url");
        assert_eq!(
            err(r#"url = "http://x:1"
                           method = "GET""#)
            .0,
            "target.method"
        );
        assert_eq!(
            err(r#"url = "http://x:1"
                           path = "api""#)
            .0,
            "target.path"
        );
        let (f, m) = err(r#"url = "http://x:1"
                            body = { caption = "{{captoin}}" }"#);
        assert_eq!(f, "target.body.caption");
        assert!(m.contains("unknown variable `captoin`"), "{m}");
        assert_eq!(
            err(r#"url = "http://x:1"
                   usage = { prompt_tokens = "usage.prompt" }"#)
            .0,
            "target.usage.prompt_tokens"
        );
        assert_eq!(
            err(r#"url = "http://x:1"
                           data = { business = [] }"#)
            .0,
            "target.data.business"
        );
        assert!(toml::from_str::<TargetSpec>("urll = 1").is_err());
    }

    #[test]
    fn bodies_fill_variables_and_leave_out_an_absent_image_prompt() {
        let t = spec(
            r#"url = "http://127.0.0.1:8000"
               data = { business = ["Rosa's"], topic = ["bread"], platform = ["X"], image_prompt = ["a \"loaf\""] }
               body = { business = "{{business}}", text = "{{topic}} on {{platform}} #{{post}}", image_prompt = "{{image_prompt}}", tags = ["{{model}}", 3], fixed = true }"#,
        )
        .resolve(Some("http://127.0.0.1:9/"), &env)
        .unwrap();
        assert_eq!(t.endpoint(), "http://127.0.0.1:9/api/marketing-post");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let without: Value =
            serde_json::from_slice(&t.body(7, "gpt-4o", false, None, &mut rng)).unwrap();
        assert_eq!(
            without,
            serde_json::json!({"business": "Rosa's", "text": "bread on X #7", "tags": ["gpt-4o", 3], "fixed": true})
        );
        let with: Value =
            serde_json::from_slice(&t.body(7, "gpt-4o", true, None, &mut rng)).unwrap();
        assert_eq!(with["image_prompt"], "a \"loaf\"");
        // A trace's row fills the variables it gives; the rest are drawn.
        let given = crate::scenario::trace::TracePost {
            business: Some("Harbor Yoga".into()),
            image_prompt: Some("sunrise on the pier".into()),
            ..Default::default()
        };
        let row: Value =
            serde_json::from_slice(&t.body(7, "gpt-4o", true, Some(&given), &mut rng)).unwrap();
        assert_eq!(row["business"], "Harbor Yoga");
        assert_eq!(row["text"], "bread on X #7");
        assert_eq!(row["image_prompt"], "sunrise on the pier");
    }

    #[test]
    fn default_lists_draw_every_business_with_the_seed() {
        let t = TargetSpec::default()
            .resolve(Some("http://127.0.0.1:1"), &env)
            .unwrap();
        let draw = |seed: u64| -> Vec<String> {
            (0..64)
                .map(|i| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(i);
                    let v: Value =
                        serde_json::from_slice(&t.body(i, "gpt-4o", false, None, &mut rng))
                            .unwrap();
                    v["business"].as_str().unwrap().to_string()
                })
                .collect()
        };
        let a = draw(3);
        assert_eq!(a, draw(3));
        assert_ne!(a, draw(4));
        let mut distinct = a.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), BUSINESSES.len());
    }

    #[test]
    fn usage_by_pointer_or_unknown() {
        let t = TargetSpec::default()
            .resolve(Some("http://127.0.0.1:1"), &env)
            .unwrap();
        let a = t
            .parse(br#"{"model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":2000,"completion_tokens":350,"prompt_tokens_details":{"cached_tokens":1024}}}"#)
            .unwrap();
        assert_eq!(
            a.tokens,
            Some(crate::metrics::cost::Tokens {
                prompt: 2000,
                cached: 1024,
                completion: 350
            })
        );
        assert_eq!(a.model.as_deref(), Some("gpt-4o-2024-08-06"));
        let none = t.parse(br#"{"caption":"hi"}"#).unwrap();
        assert_eq!((none.tokens, none.model), (None, None));
        assert!(t.parse(b"<html>oops</html>").is_none());
    }
}

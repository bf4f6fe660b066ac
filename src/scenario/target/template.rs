//! A target's body template: a JSON value whose strings name per-post variables
//! (`{{business}}`, ...), compiled once when the target is resolved and rendered for each post.

use serde_json::Value;

/// The variables a body template may use.
const VARIABLES: [&str; 6] = [
    "business",
    "topic",
    "platform",
    "image_prompt",
    "post",
    "model",
];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Segment {
    Text(String),
    Var(usize),
}

/// A compiled body template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Plain(Value),
    Text(Vec<Segment>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// Compiles the value at `at` (`body`, `body.caption`, ...); an error starts with the place of
/// the string at fault.
pub(super) fn compile(v: &Value, at: &str) -> Result<Node, String> {
    Ok(match v {
        Value::String(s) if s.contains("{{") => Node::Text(segments(s, at)?),
        Value::Array(a) => Node::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| compile(x, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Node::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), compile(x, &format!("{at}.{k}"))?)))
                .collect::<Result<_, String>>()?,
        ),
        other => Node::Plain(other.clone()),
    })
}

fn segments(s: &str, at: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Segment::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("{at}: `{{{{` without `}}}}`"))?;
        let name = after[..close].trim();
        let var = VARIABLES.iter().position(|v| *v == name).ok_or_else(|| {
            format!(
                "{at}: unknown variable `{name}` (known: {})",
                VARIABLES.join(", ")
            )
        })?;
        out.push(Segment::Var(var));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest.to_string()));
    }
    Ok(out)
}

/// One post's variables.
#[derive(Debug, Clone, PartialEq)]
pub struct PostVars<'a> {
    pub business: &'a str,
    pub topic: &'a str,
    pub platform: &'a str,
    pub image_prompt: Option<&'a str>,
    pub post: u64,
    pub model: &'a str,
}

impl PostVars<'_> {
    fn get(&self, var: usize) -> Option<String> {
        match VARIABLES[var] {
            "business" => Some(self.business.to_string()),
            "topic" => Some(self.topic.to_string()),
            "platform" => Some(self.platform.to_string()),
            "image_prompt" => self.image_prompt.map(str::to_string),
            "post" => Some(self.post.to_string()),
            _ => Some(self.model.to_string()),
        }
    }
}

/// The value for one post; `None` for a value that is only an absent variable.
pub(super) fn render(node: &Node, vars: &PostVars) -> Option<Value> {
    Some(match node {
        Node::Plain(v) => v.clone(),
        Node::Text(segs) => {
            // A value that is only an absent variable is left out.
            if let [Segment::Var(v)] = segs.as_slice() {
                return vars.get(*v).map(Value::String);
            }
            let mut s = String::new();
            for seg in segs {
                match seg {
                    Segment::Text(t) => s.push_str(t),
                    Segment::Var(v) => s.push_str(&vars.get(*v).unwrap_or_default()),
                }
            }
            Value::String(s)
        }
        Node::Array(a) => Value::Array(
            a.iter()
                .map(|n| render(n, vars).unwrap_or(Value::Null))
                .collect(),
        ),
        Node::Object(o) => Value::Object(
            o.iter()
                .filter_map(|(k, n)| Some((k.clone(), render(n, vars)?)))
                .collect(),
        ),
    })
}

/// The reference service's request: business, topic, platform and, on some posts, an image prompt.
pub fn default_body() -> Value {
    serde_json::json!({
        "business": "{{business}}",
        "topic": "{{topic}}",
        "platform": "{{platform}}",
        "image_prompt": "{{image_prompt}}",
    })
}

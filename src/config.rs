//! Turns raw command-line values into checked settings (a run's: [`run_config`], or a typed
//! [`RunRequest`] through [`configure`]). Every error here names the option or the file and
//! field, and maps to exit code 2.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::limits::{read_text, MAX_TEXT_FILE_BYTES};
use crate::openai::catalog::Catalog;
use crate::secret::shown_url;

mod example;
mod plan;
mod run;
mod stub;

pub use self::example::{example_base_url, example_config};
pub use self::plan::plan_spec;
pub(crate) use self::run::{check_remote, client_factory, endpoint, spend_cap};
pub use self::run::{
    configure, run_config, Destination, EmbeddedStubOptions, Overrides, RunRequest,
};
pub use self::stub::{catalog, stub_config};

// A usage or configuration error is an `anyhow::Error` naming the file, flag or field: no
// caller matches its cause (each ends the command with its message and exit code 2), so it
// carries no type of its own.

/// A latency option in milliseconds (`--latency-ms`, `--slow-ms`): at most what a latency
/// profile may give.
fn latency_ms(option: &str, ms: Option<u64>) -> anyhow::Result<Option<Duration>> {
    match ms {
        Some(ms) if ms as f64 > crate::limits::MAX_PROFILE_MS => Err(anyhow::anyhow!(
            "{option} {ms}: give at most {} ms (OpenAI's SDK gives up after 600 s)",
            crate::limits::MAX_PROFILE_MS
        )),
        ms => Ok(ms.map(Duration::from_millis)),
    }
}

/// `compare --tolerance`: a share (`0.1`) or a percentage (`10%`), by the one share parser (a
/// bare `10` is refused, not read as 1,000 %).
pub fn tolerance(text: &str) -> anyhow::Result<f64> {
    crate::share::parse(text).map_err(|e| anyhow::anyhow!("--tolerance {e}"))
}

/// The first value that appears twice in `values`.
fn first_repeat<T: PartialEq>(values: &[T]) -> Option<&T> {
    values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].contains(v))
        .map(|(_, v)| v)
}

/// Reads and checks a gate file (before any load is sent).
pub fn gates(path: &std::path::Path) -> anyhow::Result<Vec<crate::gate::Gate>> {
    let text = read_text(path, MAX_TEXT_FILE_BYTES).map_err(anyhow::Error::msg)?;
    crate::gate::parse(&path.display().to_string(), &text).map_err(anyhow::Error::msg)
}

/// The claims file: the given one, or the planning note's (embedded), checked against the
/// catalog (a claim naming an unknown model would otherwise never be measured).
pub fn claims(
    path: Option<&std::path::Path>,
    catalog: &Catalog,
) -> anyhow::Result<crate::claims::ClaimsFile> {
    use crate::claims;
    let (file, parsed) = match path {
        None => (
            "scenarios/claims.toml".to_string(),
            claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS),
        ),
        Some(p) => {
            let text = read_text(p, MAX_TEXT_FILE_BYTES).map_err(anyhow::Error::msg)?;
            let file = p.display().to_string();
            let parsed = claims::parse(&file, &text);
            (file, parsed)
        }
    };
    let parsed = parsed.map_err(anyhow::Error::msg)?;
    parsed
        .check_models(&file, &catalog.prices)
        .map_err(anyhow::Error::msg)?;
    Ok(parsed)
}

/// The catalog from `--mocks DIR`, or the embedded one.
pub fn catalog_from(mocks: Option<&std::path::Path>) -> anyhow::Result<Arc<Catalog>> {
    match mocks {
        Some(dir) if !dir.is_dir() => Err(anyhow::anyhow!(
            "--mocks {}: not a directory",
            dir.display()
        )),
        Some(dir) => Catalog::load_dir(dir)
            .map(Arc::new)
            .map_err(|e| anyhow::Error::msg(e.to_string())),
        None => Ok(Arc::new(Catalog::embedded())),
    }
}

pub fn retry_policy(r: crate::cli::RetryArg) -> crate::openai::retry::RetryPolicy {
    use crate::cli::RetryArg;
    use crate::openai::retry::RetryPolicy;
    match r {
        RetryArg::Sdk => RetryPolicy::Sdk,
        RetryArg::None => RetryPolicy::None,
        RetryArg::Patient => RetryPolicy::Patient,
    }
}

/// Whether a URL names this machine (127.0.0.0/8, ::1 or localhost). `what` names the option or
/// file in errors.
pub fn is_loopback(what: &str, url: &str) -> anyhow::Result<bool> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| anyhow::anyhow!("{what}: `{}`: {e}", shown_url(url)))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        anyhow::bail!("{what}: `{}`: must be http or https", shown_url(url));
    }
    Ok(match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

/// `--resolve HOST:PORT:ADDR` (ADDR on loopback only: postload's load stays on this machine
/// unless a URL itself names another).
pub(crate) fn parse_resolve(s: &str) -> anyhow::Result<(String, std::net::SocketAddr)> {
    let err = |m: &str| anyhow::anyhow!("--resolve `{s}`: {m}");
    let mut parts = s.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err("give HOST:PORT:ADDR"));
    };
    let port: u16 = port.parse().map_err(|_| err("PORT is not a port number"))?;
    let ip: std::net::IpAddr = addr
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| err("ADDR is not an IP address"))?;
    if !ip.is_loopback() {
        return Err(err("ADDR must be a loopback address (127.0.0.1 or ::1)"));
    }
    if host.is_empty() {
        return Err(err("HOST is empty"));
    }
    Ok((host.to_string(), std::net::SocketAddr::new(ip, port)))
}

/// Reads and checks a trace file (`file` names it in messages), timestamps no later than now.
pub fn read_trace(file: &str, path: &Path) -> anyhow::Result<crate::scenario::trace::Trace> {
    use crate::scenario::trace;
    let bytes = crate::limits::read_bounded(path, trace::MAX_TRACE_BYTES)
        .map_err(|m| anyhow::anyhow!("--trace: {m}"))?;
    let now = chrono::Utc::now()
        .timestamp_nanos_opt()
        .map_or(i128::MAX, i128::from);
    trace::parse(file, &bytes, now).map_err(|e| anyhow::Error::msg(e.to_string()))
}

/// A trace load's arrivals, read and checked: from `--trace`'s path as given, or from
/// `load.file` beside the scenario file.
pub(crate) fn read_arrivals(
    file: &str,
    s: &mut crate::scenario::Scenario,
    from_flag: bool,
) -> anyhow::Result<()> {
    let crate::scenario::Load::Trace {
        file: trace_file,
        speed,
        arrivals,
        ..
    } = &mut s.load
    else {
        return Ok(());
    };
    let path = if from_flag {
        std::path::PathBuf::from(trace_file.as_str())
    } else {
        std::path::Path::new(file)
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .join(trace_file.as_str())
    };
    let shown = path.display().to_string();
    let trace = read_trace(&shown, &path)?;
    crate::scenario::trace::check_replay(&trace, *speed, crate::limits::MAX_RATE_PER_S).map_err(
        |m| {
            anyhow::anyhow!("{shown}: replayed at speed {speed} (--trace-speed or load.speed): {m}")
        },
    )?;
    *arrivals = Some(Arc::new(trace));
    Ok(())
}

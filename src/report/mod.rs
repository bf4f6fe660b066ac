//! What a run produces and how it is written. [`RunResult`] is the versioned `result.json`;
//! each format is an [`Exporter`] that turns a result into bytes, and [`ReportWriter`] is the one
//! component that writes files: atomically (a temporary file, then a rename), and again after each
//! case, so a crash or Ctrl-C still leaves a valid report.

pub mod charts;
pub mod claims;
pub mod markdown;
pub mod plan;
pub mod summary;

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::metrics::Measured;
use crate::openai::bucket::Limits;
use crate::openai::retry::RetryPolicy;
use crate::scenario::{Load, Prompts};
use crate::stub::StubStats;

/// The name serde gives a unit enum value (`rate_limited`, `sdk`, ...).
pub(crate) fn name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The `schema` field of every result.json this version writes.
pub const RESULT_SCHEMA: &str = "postload.result.v1";

/// Where the load went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetInfo {
    /// A fresh in-process stub for each case.
    EmbeddedStub {
        /// `fixed N ms` or `model profiles`.
        latency: String,
        retry_after: bool,
    },
    /// An OpenAI-compatible base URL (e.g. `postload stub` in another process, or a billed
    /// endpoint behind the spend guard).
    BaseUrl {
        base_url: String,
        /// Outside loopback (real OpenAI or a compatible provider).
        #[serde(default)]
        remote: bool,
    },
    /// Service mode: each case's `service` names the service; the OpenAI calls happen inside it,
    /// against the stub started alongside (`--with-stub`) or wherever the service points.
    Service {
        /// `OPENAI_BASE_URL` of the stub started alongside, if any.
        openai_stub: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceInfo {
    pub version: String,
    pub as_of: String,
    pub source: String,
}

/// The inputs of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseInputs {
    pub scenario_file: String,
    pub description: String,
    pub model: String,
    pub tier_set: String,
    pub tier: u8,
    pub limits: Limits,
    pub load: Load,
    pub prompts: Prompts,
    pub image_prompt_share: f64,
    pub retry: RetryPolicy,
    pub request_timeout_s: f64,
    pub seed: u64,
    /// The latency profile the embedded stub served, with its date and source.
    pub latency_profile: Option<ProfileInfo>,
    /// Service mode: the service posted to (header names only, never their values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::scenario::target::ServiceTargetInfo>,
    /// `--time-scale K`: the stub's latencies and refill and the run's waits ran K times faster;
    /// every time in the result is modelled time (real time × K).
    #[serde(default = "one")]
    pub time_scale: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProfileInfo {
    pub name: String,
    pub as_of: String,
    pub source: String,
}

/// One scenario at one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseResult {
    pub scenario: String,
    pub tier: u8,
    /// Which repetition this is (1-based) when the run repeated each case (`--repeat K`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition: Option<u32>,
    pub inputs: CaseInputs,
    /// The case was cut short by Ctrl-C: its figures cover the posts that finished.
    pub interrupted: bool,
    pub duration_ms: f64,
    #[serde(flatten)]
    pub measured: Measured,
    /// What the stub saw over the case (the embedded stub, or the one started alongside a
    /// service; absent for an external target).
    pub stub: Option<StubStats>,
}

impl CaseResult {
    /// `burst-50 tier 2`, or `burst-50 tier 2 #3` for a repetition.
    pub fn label(&self) -> String {
        match self.repetition {
            Some(k) => format!("{} tier {} #{k}", self.scenario, self.tier),
            None => format!("{} tier {}", self.scenario, self.tier),
        }
    }

    /// `burst-50-tier2`, or `burst-50-tier2-3`: for file names. The scenario name is user data
    /// (a file's `name`, or an edited result.json), so it goes through [`slug`].
    pub fn slug(&self) -> String {
        let name = slug(&self.scenario);
        match self.repetition {
            Some(k) => format!("{name}-tier{}-{k}", self.tier),
            None => format!("{name}-tier{}", self.tier),
        }
    }
}

/// Longest slug [`slug`] returns: file names stay well under any file system's 255 bytes once a
/// prefix (`latency-`) and a suffix (`-tier2-10.png`) are added.
pub const SLUG_MAX: usize = 64;

/// A safe file-name part from user data (scenario names, case labels, model names, tier set
/// names): ASCII letters and digits, `-`, `_` and `.`, every other run of characters becomes one
/// `-`; no leading `.` or `-` (never `..`, never a hidden file, never an option); at most
/// [`SLUG_MAX`] bytes; `unnamed` when nothing is left. `../../x` becomes `x`, `/etc/passwd`
/// becomes `etc-passwd`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(SLUG_MAX));
    for c in name.chars() {
        if out.len() >= SLUG_MAX {
            break;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out
        .trim_start_matches(['.', '-'])
        .trim_end_matches(['.', '-']);
    // `a..b` is a fine name, but keep dots from forming `..` anywhere for a simpler guarantee.
    let s = trimmed.replace("..", ".");
    if s.is_empty() {
        "unnamed".into()
    } else {
        s
    }
}

/// A relative output name (`charts/latency-x.png`) as a path that cannot leave its folder: only
/// plain components, none hidden. `None` for anything else (`..`, an absolute path, `./x`).
fn contained(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let mut parts = 0;
    for c in path.components() {
        match c {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => parts += 1,
            _ => return None,
        }
    }
    (parts > 0).then(|| path.to_path_buf())
}

/// Creates a new folder `parent/stem`, or `parent/stem-2`, `-3`, ... if that exists, and returns
/// it. The folder is created with `create_dir`, which fails if it exists, so two runs started in
/// the same second never share one.
pub fn create_unique_dir(parent: &Path, stem: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(parent)
        .map_err(|e| anyhow::anyhow!("cannot create report folder {}: {e}", parent.display()))?;
    for n in 1..10_000u32 {
        let dir = if n == 1 {
            parent.join(stem)
        } else {
            parent.join(format!("{stem}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => anyhow::bail!("cannot create report folder {}: {e}", dir.display()),
        }
    }
    anyhow::bail!(
        "cannot create a report folder in {}: {stem} to {stem}-9999 all exist",
        parent.display()
    )
}

/// `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunResult {
    pub schema: String,
    pub postload_version: String,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// True when Ctrl-C stopped the run: cases after it were not run.
    pub interrupted: bool,
    pub target: TargetInfo,
    pub prices: PriceInfo,
    /// The spend guard (`--max-cost`), when the run had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::metrics::budget::BudgetInfo>,
    pub cases: Vec<CaseResult>,
}

/// The JSON Schema of `result.json` (committed as `schema/result.v1.schema.json`; a test keeps
/// the two equal and validates real results against the file).
pub fn result_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RunResult)).expect("a schema serializes")
}

/// One output format.
pub trait Exporter {
    fn file_name(&self) -> &'static str;
    /// Written even when the writer is hurried (a second signal): result.json and report.md.
    fn essential(&self) -> bool {
        false
    }
    fn render(&self, result: &RunResult) -> anyhow::Result<Vec<u8>>;
    /// The files this format writes, as (path relative to the report folder, bytes).
    fn outputs(&self, result: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(vec![(self.file_name().to_string(), self.render(result)?)])
    }
}

/// `result.json`: pretty-printed, stable field order.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn file_name(&self) -> &'static str {
        "result.json"
    }
    fn essential(&self) -> bool {
        true
    }
    fn render(&self, result: &RunResult) -> anyhow::Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(result)?;
        v.push(b'\n');
        Ok(v)
    }
}

/// `hlog/<scenario>-tier<N>.hlog`: each case's histograms as an HdrHistogram interval log.
pub struct HlogExporter;

impl Exporter for HlogExporter {
    fn file_name(&self) -> &'static str {
        "hlog"
    }
    fn render(&self, _: &RunResult) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("interval logs are one file per case: use outputs()")
    }
    fn outputs(&self, r: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        use crate::metrics::hlog;
        let start: std::time::SystemTime = chrono::DateTime::parse_from_rfc3339(&r.started_at)
            .map(|t| t.with_timezone(&chrono::Utc).into())
            .unwrap_or(std::time::UNIX_EPOCH);
        r.cases
            .iter()
            .filter(|c| !c.measured.histograms.is_empty())
            .map(|c| {
                let hists = c
                    .measured
                    .histograms
                    .iter()
                    .map(|(tag, enc)| {
                        hlog::decode(enc).map(|h| (tag.clone(), h)).map_err(|e| {
                            anyhow::anyhow!("{} tier {} histogram `{tag}`: {e}", c.scenario, c.tier)
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
                let comment = format!(
                    "postload {} run {}: {} tier {} ({}), values in microseconds",
                    r.postload_version, r.run_id, c.scenario, c.tier, c.inputs.model
                );
                let bytes = hlog::write_log(
                    &comment,
                    start,
                    crate::limits::secs(c.duration_ms / 1000.0, std::time::Duration::MAX),
                    &hists,
                );
                Ok((format!("hlog/{}.hlog", c.slug()), bytes))
            })
            .collect()
    }
}

/// Owns a report folder and writes every file in it, atomically. Every file stays inside the
/// folder: an output name must be plain relative components, and the folder a file lands in is
/// checked after symbolic links are resolved.
pub struct ReportWriter {
    dir: PathBuf,
    /// `dir` with symbolic links resolved, once, when the writer was created.
    root: PathBuf,
    exporters: Vec<Box<dyn Exporter + Send + Sync>>,
    hurry: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for ReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportWriter")
            .field("dir", &self.dir)
            .finish()
    }
}

impl ReportWriter {
    /// Creates `dir` (and its parents); the writer has no formats yet.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create report folder {}: {e}", dir.display()))?;
        let root = dir
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            root,
            exporters: Vec::new(),
            hurry: None,
        })
    }

    /// Once `flag` is set, [`write`](Self::write) writes only the essential formats
    /// (result.json, report.md) and skips the rest (charts, HTML, logs), to finish quickly.
    pub fn hurried_by(mut self, flag: Arc<AtomicBool>) -> Self {
        self.hurry = Some(flag);
        self
    }

    /// Adds a format.
    pub fn with(mut self, exporter: impl Exporter + Send + Sync + 'static) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Renders and writes every format. Refuses (before writing anything) an output name that
    /// could leave the folder, and two outputs with one name (two cases with one label would
    /// overwrite each other's files).
    pub fn write(&self, result: &RunResult) -> anyhow::Result<()> {
        let hurried = || {
            self.hurry
                .as_ref()
                .is_some_and(|h| h.load(Ordering::SeqCst))
        };
        let mut seen = std::collections::BTreeSet::new();
        for e in &self.exporters {
            if hurried() && !e.essential() {
                continue;
            }
            let outputs = e.outputs(result)?;
            for (name, _) in &outputs {
                if contained(name).is_none() {
                    anyhow::bail!(
                        "refusing to write `{name}`: not a plain name inside the report folder"
                    );
                }
                if !seen.insert(name.clone()) {
                    anyhow::bail!("two outputs are named `{name}`: two cases share a name (scenario and tier)");
                }
            }
            for (name, bytes) in outputs {
                self.write_inside(&name, &bytes)?;
            }
        }
        Ok(())
    }

    /// Writes `name` (checked by [`contained`]) under the folder, after checking that the
    /// folder it lands in, with symbolic links resolved, is inside the report folder.
    fn write_inside(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let rel = contained(name)
            .ok_or_else(|| anyhow::anyhow!("refusing to write `{name}`: not a plain name"))?;
        let path = self.dir.join(rel);
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)
            .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", parent.display()))?;
        let root = &self.root;
        let real_parent = parent
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("{}: {e}", parent.display()))?;
        if !real_parent.starts_with(root) {
            anyhow::bail!(
                "refusing to write {}: it resolves to {}, outside the report folder {}",
                path.display(),
                real_parent.display(),
                root.display()
            );
        }
        // A symbolic link at `path` itself is harmless: the rename replaces the link, it does
        // not write through it.
        write_atomic(&path, bytes)
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`: a
/// reader sees the old file or the new one, never half of one. The temporary file is created new
/// (`O_EXCL`), so a link planted under its name is never followed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(&tmp);
        }
        anyhow::bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("postload-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("result.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_keeps_the_old_bytes() {
        // A directory where the temporary file goes makes the write fail after `path` exists:
        // the old file must survive whole and the error must say so.
        let dir = std::env::temp_dir().join(format!("postload-atomic-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("result.json");
        write_atomic(&p, b"old").unwrap();
        let tmp = dir.join(format!(".result.json.tmp-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let e = write_atomic(&p, b"new").unwrap_err();
        assert!(e.to_string().contains("result.json"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(tmp.is_dir(), "a directory in the way is not removed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn slug_keeps_safe_names_and_flattens_paths() {
        assert_eq!(slug("burst-50"), "burst-50");
        assert_eq!(slug("My_Run.v2"), "My_Run.v2");
        // Separators and dots that could climb out become nothing or one dash.
        assert_eq!(slug("../../../../x"), "x");
        assert_eq!(slug("/etc/passwd"), "etc-passwd");
        assert_eq!(slug("a/../b"), "a-.-b");
        assert_eq!(slug("..."), "unnamed");
        assert_eq!(slug(""), "unnamed");
        assert_eq!(slug(".hidden"), "hidden");
        assert_eq!(slug("-rf"), "rf");
        assert_eq!(slug("tier set: é ☃"), "tier-set");
        assert_eq!(slug("a..b"), "a.b");
        // At most SLUG_MAX bytes: 100 letters keep 64.
        assert_eq!(slug(&"a".repeat(100)).len(), SLUG_MAX);
        for s in ["..", "../x", "/abs", "a\\..\\b", "\0", "C:\\x"] {
            let out = slug(s);
            assert!(contained(&out).is_some(), "{s} -> {out}");
            assert!(!out.contains('/') && !out.contains(".."), "{s} -> {out}");
        }
    }

    #[test]
    fn contained_accepts_only_plain_relative_names() {
        assert!(contained("result.json").is_some());
        assert!(contained("charts/latency-x.png").is_some());
        for bad in [
            "",
            "../x",
            "charts/../../x",
            "/etc/x",
            "./x",
            ".x",
            "charts/.x",
        ] {
            assert!(contained(bad).is_none(), "{bad}");
        }
    }

    /// Writes whatever names it is given.
    struct Names(Vec<&'static str>);
    impl Exporter for Names {
        fn file_name(&self) -> &'static str {
            "names"
        }
        fn render(&self, _: &RunResult) -> anyhow::Result<Vec<u8>> {
            unreachable!()
        }
        fn outputs(&self, _: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
            Ok(self
                .0
                .iter()
                .map(|n| (n.to_string(), b"x".to_vec()))
                .collect())
        }
    }

    fn empty_result() -> RunResult {
        RunResult {
            schema: RESULT_SCHEMA.into(),
            postload_version: "0".into(),
            run_id: "r".into(),
            started_at: String::new(),
            finished_at: None,
            interrupted: false,
            target: TargetInfo::Service { openai_stub: None },
            prices: PriceInfo {
                version: String::new(),
                as_of: String::new(),
                source: String::new(),
            },
            budget: None,
            cases: Vec::new(),
        }
    }

    #[test]
    fn the_writer_refuses_names_that_leave_its_folder_and_writes_nothing() {
        let root = std::env::temp_dir().join(format!("postload-escape-{}", std::process::id()));
        let dir = root.join("run");
        let w = ReportWriter::create(&dir)
            .unwrap()
            .with(Names(vec!["ok.txt", "../escaped.txt"]));
        let e = w.write(&empty_result()).unwrap_err();
        assert!(e.to_string().contains("../escaped.txt"), "{e}");
        assert!(!root.join("escaped.txt").exists());
        // Checked before writing: not even the good name was written.
        assert!(!dir.join("ok.txt").exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_writer_refuses_a_folder_that_links_outside() {
        let root = std::env::temp_dir().join(format!("postload-symlink-{}", std::process::id()));
        let dir = root.join("run");
        let outside = root.join("outside");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("charts")).unwrap();
        let w = ReportWriter::create(&dir)
            .unwrap()
            .with(Names(vec!["charts/x.png"]));
        let e = w.write(&empty_result()).unwrap_err();
        assert!(e.to_string().contains("outside the report folder"), "{e}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn two_outputs_with_one_name_are_refused() {
        let root = std::env::temp_dir().join(format!("postload-dupname-{}", std::process::id()));
        let w = ReportWriter::create(&root)
            .unwrap()
            .with(Names(vec!["a.txt"]))
            .with(Names(vec!["a.txt"]));
        let e = w.write(&empty_result()).unwrap_err();
        assert!(
            e.to_string().contains("two outputs are named `a.txt`"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_hurried_writer_writes_only_the_essential_formats() {
        let root = std::env::temp_dir().join(format!("postload-hurry-{}", std::process::id()));
        let hurry = Arc::new(AtomicBool::new(true));
        let w = ReportWriter::create(&root)
            .unwrap()
            .hurried_by(Arc::clone(&hurry))
            .with(JsonExporter)
            .with(Names(vec!["chart.png"]));
        w.write(&empty_result()).unwrap();
        assert!(root.join("result.json").exists());
        assert!(!root.join("chart.png").exists());
        hurry.store(false, Ordering::SeqCst);
        w.write(&empty_result()).unwrap();
        assert!(root.join("chart.png").exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn concurrent_runs_get_distinct_folders() {
        // Eight threads ask for the same stem at once: eight folders, stem and stem-2..stem-8.
        let root = std::env::temp_dir().join(format!("postload-unique-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| create_unique_dir(&root, "20261130-120000").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut names: Vec<String> = dirs
            .iter()
            .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected = vec!["20261130-120000".to_string()];
        expected.extend((2..=8).map(|n| format!("20261130-120000-{n}")));
        expected.sort();
        assert_eq!(names, expected);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn failed_write_names_the_path() {
        let e = write_atomic(Path::new("/nonexistent-dir/x/result.json"), b"x").unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x/result.json"));
    }
}

//! The one component that writes report files: [`ReportWriter`] renders every format and writes
//! each file atomically ([`write_atomic`]), inside its folder, again after each case.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::paths::contained;
use super::{Exporter, RunResult};

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

/// The formats a run writes, chosen by the command that starts it.
pub type Exporters = Vec<Box<dyn Exporter + Send + Sync>>;

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

    /// Adds formats the caller chose (the command layer hands the run its exporters).
    pub fn with_all(mut self, exporters: Exporters) -> Self {
        self.exporters.extend(exporters);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Renders and writes every format. Refuses, before writing any file: an output name that
    /// could leave the folder, two outputs with one name (two cases with one label would
    /// overwrite each other's files), and a folder a file lands in (the charts' too) that
    /// cannot be created or written, or a file name taken by a folder. So a failure never
    /// leaves a report.md beside charts it does not match.
    pub fn write(&self, result: &RunResult) -> anyhow::Result<()> {
        let hurried = || {
            self.hurry
                .as_ref()
                .is_some_and(|h| h.load(Ordering::SeqCst))
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut all = Vec::new();
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
            all.extend(outputs);
        }
        let mut folders = std::collections::BTreeSet::new();
        for (name, _) in &all {
            let path = self.dir.join(contained(name).unwrap_or_default());
            if path.is_dir() {
                anyhow::bail!("cannot write {}: a folder has its name", path.display());
            }
            let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
            if folders.insert(parent.clone()) {
                self.check_folder(&parent)?;
            }
        }
        for (name, bytes) in all {
            self.write_inside(&name, &bytes)?;
        }
        Ok(())
    }

    /// Creates `folder` if needed, checks it is inside the report folder once links are
    /// resolved, and that it takes a new file (one is created there and removed).
    fn check_folder(&self, folder: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(folder)
            .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", folder.display()))?;
        let real = folder
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("{}: {e}", folder.display()))?;
        if !real.starts_with(&self.root) {
            anyhow::bail!(
                "refusing to write in {}: it resolves to {}, outside the report folder {}",
                folder.display(),
                real.display(),
                self.root.display()
            );
        }
        let probe = folder.join(format!(".postload-probe-{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(|e| anyhow::anyhow!("cannot write in {}: {e}", folder.display()))?;
        let _ = std::fs::remove_file(&probe);
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
    // A device or a pipe the user named (`--junit /dev/null`, `--json /dev/stdout`) is written
    // in place: a rename would replace it with a file (as root, /dev/null itself).
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()));
    }
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
    use crate::report::{JsonExporter, PriceInfo, TargetInfo, RESULT_SCHEMA};

    /// An empty folder's path for one test: a folder of this name left by an earlier process
    /// with the same id (one that failed before its clean-up) is removed first.
    fn fresh(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("postload-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temporary() {
        let dir = fresh("atomic");
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
        let dir = fresh("atomic-fail");
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
            tier_limits: Vec::new(),
            shard: None,
        }
    }

    #[test]
    fn the_writer_refuses_names_that_leave_its_folder_and_writes_nothing() {
        let root = fresh("escape");
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
        let root = fresh("symlink");
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
        let root = fresh("dupname");
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
        let root = fresh("hurry");
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
    fn failed_write_names_the_path() {
        let e = write_atomic(Path::new("/nonexistent-dir/x/result.json"), b"x").unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x/result.json"));
    }
}

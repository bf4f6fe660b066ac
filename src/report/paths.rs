//! Path safety for everything the report writes: [`slug`] turns user data (scenario, model and
//! tier set names) into safe file-name parts, [`contained`] accepts only output names that stay
//! inside the report folder, and [`create_unique_dir`] gives each run a folder of its own.

use std::path::{Component, Path, PathBuf};

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

/// A case's file-name part: `burst-50-tier2`, or `burst-50-tier2-3` for a repetition. The
/// scenario name is user data (a file's `name`, or an edited result.json), so it goes through
/// [`slug`].
pub fn case_slug(c: &crate::result::CaseResult) -> String {
    let name = slug(&c.scenario);
    match c.repetition {
        Some(k) => format!("{name}-tier{}-{k}", c.tier),
        None => format!("{name}-tier{}", c.tier),
    }
}

/// A relative output name (`charts/latency-x.png`) as a path that cannot leave its folder: only
/// plain components, none hidden. `None` for anything else (`..`, an absolute path, `./x`).
pub(super) fn contained(name: &str) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The architecture's floors, checked: no import cycle among the top-level modules of `src/`
//! (read from `crate::` paths outside `#[cfg(test)]`), so the pure core (openai, metrics, gate,
//! compare, plan) never reaches back into the edges (config, run, commands); and no cycle
//! between the files inside one top-level module (read from `crate::` and `super::` paths; a
//! module and its own submodules may name each other), so each file can be read from its leaves up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a file of `src/` belongs to (`src/run/post.rs` -> `run`).
fn top(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.strip_suffix(".rs").unwrap_or(&first).to_string()
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::name` and `use crate::{a, b::c}` references in `text`.
fn deps(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The module graph of `src/`: an edge from each top-level module to those it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in all {
        let m = top(&src, &f);
        let text = std::fs::read_to_string(&f).unwrap();
        // Tests may reach anywhere.
        let body = text.split("#[cfg(test)]").next().unwrap_or_default();
        let e = edges.entry(m.clone()).or_default();
        for d in deps(body) {
            if d != m && d != "lib" && d != "main" {
                e.insert(d);
            }
        }
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            if let Some(ws) = self.edges.get(v) {
                for w in ws {
                    if !self.index.contains_key(w.as_str()) {
                        self.visit(w);
                        let lw = self.low[w.as_str()];
                        let lv = self.low[v];
                        self.low.insert(v, lv.min(lw));
                    } else if self.on.contains(w.as_str()) {
                        let iw = self.index[w.as_str()];
                        let lv = self.low[v];
                        self.low.insert(v, lv.min(iw));
                    }
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    // a -> b -> c -> a, and d -> a: one cycle of three; d is outside it.
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
        g.entry(from.into()).or_default().insert(to.into());
    }
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        deps("use crate::{gate, report::x};\nlet y = crate::plan::run();"),
        ["gate", "plan", "report"].map(String::from).into()
    );
}

#[test]
fn no_import_cycle_among_the_modules() {
    let g = graph();
    assert!(g.len() > 10, "read the modules: {g:?}");
    let found = cycles(&g);
    assert!(found.is_empty(), "import cycles: {found:?}");
}

/// A file's module path (`src/report/markdown.rs` and `src/report/markdown/mod.rs` ->
/// `report::markdown`; `src/lib.rs` -> ``).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The paths `text` names through `crate::` and `super::` (the latter resolved against `here`, the
/// file's module path), each as its segments, groups read to any depth:
/// `use super::{a::b, c::{d, e}};` in `m::x` names `m::a::b`, `m::c::d` and `m::c::e`.
fn file_refs(text: &str, here: &[String]) -> Vec<Vec<String>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_word_start = i == 0 || !word(b[i - 1]);
        let (base, j) = if at_word_start && b[i..].starts_with(b"crate::") {
            (Vec::new(), i + "crate::".len())
        } else if at_word_start && b[i..].starts_with(b"super::") {
            let mut up = 0;
            let mut j = i;
            while b[j..].starts_with(b"super::") {
                up += 1;
                j += "super::".len();
            }
            (here[..here.len().saturating_sub(up)].to_vec(), j)
        } else {
            i += 1;
            continue;
        };
        i = tree(text, j, base, &mut out).max(i + 1);
    }
    out
}

fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Reads the use-tree at `j` (`a::b`, `a::{b, c::d}`, `{a, b}`) under `base` into `out`; returns
/// where it ends.
fn tree(text: &str, mut j: usize, mut base: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let b = text.as_bytes();
    let skip_space = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    loop {
        let start = j;
        while j < b.len() && word(b[j]) {
            j += 1;
        }
        if j == start {
            break;
        }
        base.push(text[start..j].to_string());
        if b[j..].starts_with(b"::") && b.get(j + 2).is_some_and(|&c| word(c) || c == b'{') {
            j += 2;
        } else {
            break;
        }
    }
    if b.get(j) != Some(&b'{') {
        if !base.is_empty() {
            out.push(base);
        }
        return j;
    }
    j += 1;
    loop {
        j = tree(text, skip_space(j), base.clone(), out);
        // Past ` as name` or anything else up to this item's end.
        while j < b.len() && b[j] != b',' && b[j] != b'}' {
            j += 1;
        }
        if b.get(j) == Some(&b',') {
            j += 1;
            continue;
        }
        return (j + 1).min(b.len());
    }
}

/// The file graph of `src/`: an edge from each file's module to each module of the same
/// top-level module that it names, other than its own ancestors and descendants.
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeMap<Vec<String>, std::path::PathBuf> = all
        .into_iter()
        .map(|f| (module_path(&src, &f), f))
        .collect();
    // The longest prefix of `path` that is a file's module.
    let resolve = |path: &[String]| -> Option<&Vec<String>> {
        (1..=path.len())
            .rev()
            .find_map(|k| modules.get_key_value(&path[..k]).map(|(m, _)| m))
    };
    let related = |a: &[String], b: &[String]| a.starts_with(b) || b.starts_with(a);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap();
        // Tests may reach anywhere.
        let body = text.split("#[cfg(test)]").next().unwrap_or_default();
        let e = edges.entry(m.join("::")).or_default();
        for r in file_refs(body, m) {
            if let Some(t) = resolve(&r) {
                if !related(m, t) && m.first() == t.first() {
                    e.insert(t.join("::"));
                }
            }
        }
    }
    edges
}

#[test]
fn the_file_reference_reader_resolves_super_and_braces() {
    let here = ["report", "markdown"].map(String::from);
    let refs = file_refs(
        "use super::charts::ChartExporter;\nuse super::{name_of, claims::{evaluate, X as Y}, summary};\n\
         let s = crate::report::service::section(r);\nlet v = super::super::plan::usd;\n\
         use crate::{gate, metrics::Measured};\nlet z = supercrate::x; self::data::p();",
        &here,
    );
    let joined: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    assert_eq!(
        joined,
        [
            "report::charts::ChartExporter",
            "report::name_of",
            "report::claims::evaluate",
            "report::claims::X",
            "report::summary",
            "report::service::section",
            "plan::usd",
            "gate",
            "metrics::Measured",
        ]
    );
}

#[test]
fn no_cycle_between_files_inside_a_module() {
    let g = file_graph();
    assert!(
        g.get("report::markdown")
            .is_some_and(|e| e.contains("report::document")),
        "read the files: {g:?}"
    );
    let found = cycles(&g);
    assert!(found.is_empty(), "file cycles inside modules: {found:?}");
}

//! The documentation names files that exist: every repository path in `README.md` and
//! `docs/*.md` is checked against the repository, so a renamed test or script does not leave the
//! docs pointing at nothing.
//!
//! What counts as a path, kept simple on purpose:
//! - a Markdown link's target that is not a URL or a bare `#anchor`, relative to the file it is
//!   in (links are meant to be followed, so every one is checked);
//! - the first word of an inline code span (outside fenced blocks) when it has a `/` and either
//!   starts with a top-level directory of the repository (`tests/`, `deploy/`, `scripts/`, a
//!   crate's folder…) or ends in a file extension of [`EXTENSIONS`]. URLs and absolute paths
//!   (`/metrics`, `/proc/stat`) are not repository files and are left alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Extensions that make a `a/b.ext` code span a file path even outside a top-level directory.
const EXTENSIONS: [&str; 9] = [
    ".rs", ".md", ".toml", ".json", ".yml", ".yaml", ".sh", ".py", ".js",
];

/// Paths the docs name that are not files of this repository, so they cannot be checked here.
const ELSEWHERE: [&str; 1] = [
    // The side-by-side benchmark harness lives in the shared perf tooling, a checkout of its own
    // beside Warren's (docs/benchmarks.md).
    "perf/run.sh",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The repository's top-level directories, but for git's and cargo's own.
fn top_level_dirs() -> BTreeSet<String> {
    std::fs::read_dir(root())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".git" && name != "target")
        .collect()
}

/// The text outside fenced code blocks: a fence's contents are examples, not references.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut kept = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// The first word of each inline code span, and the target of each link outside them.
fn spans_and_links(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut spans, mut links) = (Vec::new(), Vec::new());
    // Split on backticks, odd pieces are code spans (which may wrap across lines).
    for (index, piece) in prose(text).split('`').enumerate() {
        if index % 2 == 1 {
            if let Some(word) = piece.split_whitespace().next() {
                spans.push(word.to_owned());
            }
            continue;
        }
        let mut rest = piece;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            links.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    (spans, links)
}

/// The path a code span names in the repository, if it names one by the rules above.
fn span_path(span: &str, dirs: &BTreeSet<String>) -> Option<String> {
    if span.contains("://") || span.starts_with('/') {
        return None;
    }
    let path = span.trim_start_matches("./");
    let path = path.split('#').next().unwrap_or(path);
    let (first, _) = path.split_once('/')?;
    let known_dir = dirs.contains(first);
    let known_extension = EXTENSIONS.iter().any(|ext| path.ends_with(ext));
    (known_dir || known_extension).then(|| path.to_owned())
}

/// The file a link points at, relative to the document it is in, if it is not a URL or anchor.
fn link_path(document: &Path, link: &str) -> Option<PathBuf> {
    let target = link.split_whitespace().next()?;
    if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
        return None;
    }
    let target = target.split('#').next().unwrap_or(target);
    Some(document.parent()?.join(target))
}

#[test]
fn the_docs_name_files_that_exist() {
    let (root, dirs) = (root(), top_level_dirs());
    let mut checked = 0;
    let mut missing = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let name = document.strip_prefix(&root).unwrap().display().to_string();
        let (spans, links) = spans_and_links(&text);
        let from_spans = spans
            .iter()
            .filter_map(|span| span_path(span, &dirs))
            .map(|path| (path.clone(), root.join(path)));
        let from_links = links.iter().filter_map(|link| {
            let path = link_path(&document, link)?;
            Some((link.clone(), path))
        });
        for (named, path) in from_spans.chain(from_links) {
            if ELSEWHERE.contains(&named.as_str()) {
                continue;
            }
            checked += 1;
            if !path.exists() {
                missing.push(format!("{name}: {named}"));
            }
        }
    }
    // The docs name dozens of files; a handful means the rules stopped finding them.
    assert!(checked >= 30, "only {checked} paths found in the docs");
    assert!(
        missing.is_empty(),
        "the docs name files that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_rules_find_paths_and_leave_the_rest() {
    let dirs = BTreeSet::from(["tests".to_owned(), "scripts".to_owned()]);
    let text = "See `tests/a.rs`, `scripts/test --quick`, `ws/mod.rs`, `/metrics`, `rooms.create`,\n\
                `http://x/y.json`, `commands/s` and [the bus](bus.md#calls), [site](https://x.io).\n\
                ```\n`tests/in_a_fence.rs`\n```\n";
    let (spans, links) = spans_and_links(text);
    let paths: Vec<String> = spans.iter().filter_map(|s| span_path(s, &dirs)).collect();
    assert_eq!(paths, ["tests/a.rs", "scripts/test", "ws/mod.rs"]);
    let doc = Path::new("/repo/docs/x.md");
    let linked: Vec<PathBuf> = links.iter().filter_map(|l| link_path(doc, l)).collect();
    assert_eq!(linked, [PathBuf::from("/repo/docs/bus.md")]);
}

/// A merge that left its conflict markers in a document is caught here, not by a reader.
#[test]
fn no_document_holds_conflict_markers() {
    for file in documents() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let marker = ["<<<<<<< ", ">>>>>>> "]
                .iter()
                .any(|marker| line.starts_with(marker))
                || line == "=======";
            assert!(!marker, "{}:{}: {line}", file.display(), number + 1);
        }
    }
}

//! Sources: the files and folders a collection reads, how they are walked, and what is
//! remembered of them so that [`Collection::append`](crate::Collection::append) can re-scan.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default largest file read from a source: 64 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

/// What a folder walk does with symbolic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SymlinkPolicy {
    /// Links are not followed (default).
    #[default]
    Skip,
    /// Links are followed when their target lies inside the source folder; others are skipped.
    WithinSource,
    /// Links are followed wherever they point (loops are detected and fail alone).
    Follow,
}

/// How a source is walked. Remembered with the source, so `append` walks it the same way.
///
/// ```
/// use semantik_core::SourceOptions;
/// let o = SourceOptions::new().with_include(["*.md", "*.html"]).with_exclude(["drafts/**"]);
/// assert!(o.gitignore && !o.hidden && o.recursive);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SourceOptions {
    /// Walk sub-folders (default true).
    pub recursive: bool,
    /// Globs (gitignore syntax) a file must match to be read; empty reads every file.
    pub include: Vec<String>,
    /// Globs of files and folders to leave out.
    pub exclude: Vec<String>,
    /// Honour `.gitignore`, `.ignore` and `.git/info/exclude` files (default true).
    pub gitignore: bool,
    /// Read hidden files and folders (names starting with `.`; default false).
    pub hidden: bool,
    /// What to do with symbolic links.
    pub symlinks: SymlinkPolicy,
    /// Larger files fail with [`Error::LimitExceeded`] (default 64 MiB; `None`: no limit).
    pub max_file_size: Option<u64>,
    /// When the source is scanned again, remove the documents of files that are gone
    /// (default true). Nothing is removed below a folder the walk could not read, nor when the
    /// source itself is missing (a folder that vanished is removed with `remove_source`).
    pub remove_deleted: bool,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            recursive: true,
            include: Vec::new(),
            exclude: Vec::new(),
            gitignore: true,
            hidden: false,
            symlinks: SymlinkPolicy::Skip,
            max_file_size: Some(DEFAULT_MAX_FILE_SIZE),
            remove_deleted: true,
        }
    }
}

impl SourceOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets whether sub-folders are walked.
    pub fn with_recursive(mut self, recursive: bool) -> Self {
        self.recursive = recursive;
        self
    }
    /// Sets the globs a file must match.
    pub fn with_include<I: IntoIterator<Item = S>, S: Into<String>>(mut self, globs: I) -> Self {
        self.include = globs.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the globs of files and folders left out.
    pub fn with_exclude<I: IntoIterator<Item = S>, S: Into<String>>(mut self, globs: I) -> Self {
        self.exclude = globs.into_iter().map(Into::into).collect();
        self
    }
    /// Sets whether ignore files are honoured.
    pub fn with_gitignore(mut self, gitignore: bool) -> Self {
        self.gitignore = gitignore;
        self
    }
    /// Sets whether hidden files are read.
    pub fn with_hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }
    /// Sets the symbolic link policy.
    pub fn with_symlinks(mut self, policy: SymlinkPolicy) -> Self {
        self.symlinks = policy;
        self
    }
    /// Sets the largest file read.
    pub fn with_max_file_size(mut self, bytes: Option<u64>) -> Self {
        self.max_file_size = bytes;
        self
    }
    /// Sets whether documents of deleted files are removed when the source is scanned again.
    pub fn with_remove_deleted(mut self, remove: bool) -> Self {
        self.remove_deleted = remove;
        self
    }

    /// Checks the globs.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a glob that does not parse.
    pub fn validate(&self) -> Result<()> {
        self.globs(Path::new("/")).map(|_| ())
    }

    /// The include globs and the exclude globs as matchers rooted at `root`. Excludes go to
    /// the walk (so excluded folders are not entered); includes are checked on files only, so
    /// that hidden and ignored files stay out even when they match.
    fn globs(
        &self,
        root: &Path,
    ) -> Result<(ignore::overrides::Override, ignore::overrides::Override)> {
        let bad = |g: &str, e: ignore::Error| Error::invalid(format!("glob {g:?}: {e}"));
        let mut include = ignore::overrides::OverrideBuilder::new(root);
        for g in &self.include {
            include.add(g).map_err(|e| bad(g, e))?;
        }
        let mut exclude = ignore::overrides::OverrideBuilder::new(root);
        for g in &self.exclude {
            exclude.add(&format!("!{g}")).map_err(|e| bad(g, e))?;
        }
        let build = |b: ignore::overrides::OverrideBuilder| {
            b.build().map_err(|e| Error::invalid(format!("globs: {e}")))
        };
        Ok((build(include)?, build(exclude)?))
    }
}

/// A source as a collection remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SourceRecord {
    pub(crate) path: PathBuf,
    #[serde(default)]
    pub(crate) options: SourceOptions,
    pub(crate) added_at: SystemTime,
}

/// What one walk of a source found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Files to read, in path order, with their sizes.
    pub(crate) files: Vec<(PathBuf, u64)>,
    /// Entries that cannot be read or stored (they fail alone), with the error.
    pub(crate) unreadable: Vec<(PathBuf, Error)>,
    /// Folders the walk could not list completely: documents below them are never removed
    /// as deleted.
    pub(crate) incomplete: Vec<PathBuf>,
}

/// Lists the files of the source at `root` (a file or a folder).
pub(crate) fn scan(root: &Path, options: &SourceOptions) -> Scan {
    let mut out = Scan::default();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(_) => {
            out.unreadable.push((
                root.to_path_buf(),
                Error::PathNotFound {
                    path: root.to_path_buf(),
                },
            ));
            out.incomplete.push(root.to_path_buf());
            return out;
        }
    };
    if meta.is_file() {
        push_file(&mut out, root.to_path_buf(), meta.len());
        return out;
    }
    let (include, exclude) = match options.globs(root) {
        Ok(o) => o,
        Err(e) => {
            out.unreadable.push((root.to_path_buf(), e));
            out.incomplete.push(root.to_path_buf());
            return out;
        }
    };
    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut walker = ignore::WalkBuilder::new(root);
    walker
        .hidden(!options.hidden)
        .git_ignore(options.gitignore)
        .git_exclude(options.gitignore)
        .git_global(false)
        .ignore(options.gitignore)
        .parents(options.gitignore)
        .require_git(false)
        .follow_links(options.symlinks != SymlinkPolicy::Skip)
        .overrides(exclude)
        .sort_by_file_path(|a, b| a.cmp(b));
    if !options.recursive {
        walker.max_depth(Some(1));
    }
    let mut seen = HashSet::new();
    for entry in walker.build() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = walk_error_path(&e).unwrap_or_else(|| root.to_path_buf());
                out.incomplete.push(path.clone());
                out.unreadable.push((
                    path.clone(),
                    Error::DocumentRead {
                        path,
                        message: e.to_string(),
                    },
                ));
                continue;
            }
        };
        let is_file = entry.file_type().is_some_and(|t| t.is_file());
        if !is_file {
            continue;
        }
        if !options.include.is_empty() && !include.matched(entry.path(), false).is_whitelist() {
            continue;
        }
        let path = entry.into_path();
        if options.symlinks == SymlinkPolicy::WithinSource {
            match std::fs::canonicalize(&path) {
                Ok(target) if target.starts_with(&canonical_root) => {
                    // Two links to one file inside the source: read it once.
                    if !seen.insert(target) {
                        continue;
                    }
                }
                _ => continue,
            }
        }
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        push_file(&mut out, path, size);
    }
    out
}

fn push_file(out: &mut Scan, path: PathBuf, size: u64) {
    if path.to_str().is_none() {
        let e = Error::DocumentRead {
            path: path.clone(),
            message: "the file name is not valid UTF-8".into(),
        };
        out.unreadable.push((path, e));
    } else {
        out.files.push((path, size));
    }
}

/// The path an `ignore` walk error is about, when it says.
fn walk_error_path(e: &ignore::Error) -> Option<PathBuf> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

/// The canonical form of `path` as `add_source` stores it: absolute, with its deepest existing
/// ancestor canonicalised (symlinks resolved) and the missing rest appended.
pub(crate) fn canonical_even_if_gone(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    };
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(existing) {
            return missing.iter().rev().fold(c, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(scan: &Scan, root: &Path) -> Vec<String> {
        scan.files
            .iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn walk_honours_globs_hidden_gitignore_and_depth() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "a.md",
            "b.txt",
            "sub/c.md",
            "sub/deep/d.md",
            ".hidden.md",
            "skip/e.md",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        std::fs::write(root.join(".gitignore"), "skip/\n").unwrap();
        let all = scan(root, &SourceOptions::new());
        assert_eq!(
            names(&all, root),
            ["a.md", "b.txt", "sub/c.md", "sub/deep/d.md"]
        );
        let md = scan(
            root,
            &SourceOptions::new()
                .with_include(["*.md"])
                .with_exclude(["deep/"]),
        );
        assert_eq!(names(&md, root), ["a.md", "sub/c.md"]);
        let flat = scan(root, &SourceOptions::new().with_recursive(false));
        assert_eq!(names(&flat, root), ["a.md", "b.txt"]);
        let everything = scan(
            root,
            &SourceOptions::new().with_hidden(true).with_gitignore(false),
        );
        assert_eq!(everything.files.len(), 7, "{:?}", names(&everything, root));
        assert!(
            SourceOptions::new()
                .with_include(["a{"])
                .validate()
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_policies() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "outside").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "inside").unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root, root.join("loop")).unwrap();
        let skip = scan(root, &SourceOptions::new());
        assert_eq!(names(&skip, root), ["a.txt"]);
        let within = scan(
            root,
            &SourceOptions::new().with_symlinks(SymlinkPolicy::WithinSource),
        );
        assert_eq!(names(&within, root), ["a.txt"]);
        let follow = scan(
            root,
            &SourceOptions::new().with_symlinks(SymlinkPolicy::Follow),
        );
        let n = names(&follow, root);
        assert!(n.contains(&"out/secret.txt".to_string()), "{n:?}");
        assert!(n.contains(&"link.txt".to_string()), "{n:?}");
        // The loop is reported, not followed forever.
        assert!(!follow.unreadable.is_empty());
    }

    #[test]
    fn a_missing_root_is_unreadable_and_incomplete() {
        let s = scan(Path::new("/no/such/dir"), &SourceOptions::new());
        assert!(s.files.is_empty());
        assert_eq!(s.unreadable[0].1.code(), crate::ErrorCode::PathNotFound);
        assert_eq!(s.incomplete, [PathBuf::from("/no/such/dir")]);
    }
}

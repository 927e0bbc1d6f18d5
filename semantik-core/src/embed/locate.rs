//! Model resolution: a model name or path becomes a directory of model files.
//!
//! Looked up in order: the name as a directory path; `$SEMANTIK_MODEL_DIR/<name>`; the Hugging
//! Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`, layout
//! `models--org--name/snapshots/<revision>/`); semantik's own cache
//! (`$SEMANTIK_CACHE_DIR`, `$XDG_CACHE_HOME/semantik` or `~/.cache/semantik`, layout
//! `models/<org>/<name>/`, filled by `make model`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// semantik's cache directory.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SEMANTIK_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("semantik"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("semantik"))
}

fn hf_hub_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HF_HUB_CACHE") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(d).join("hub"));
    }
    std::env::var_os("HOME").map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("huggingface")
            .join("hub")
    })
}

/// A directory that holds a model (it has a `config.json`).
fn is_model_dir(p: &Path) -> bool {
    p.join("config.json").is_file()
}

/// The snapshot of `name` in a Hugging Face hub cache: the one `refs/main` names, else the
/// only (or newest) snapshot.
fn hf_snapshot(hub: &Path, name: &str) -> Option<PathBuf> {
    let repo = hub.join(format!("models--{}", name.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let p = snapshots.join(rev.trim());
        if is_model_dir(&p) {
            return Some(p);
        }
    }
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| is_model_dir(p))
        .map(|p| {
            (
                p.metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH),
                p,
            )
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, p)| p)
}

/// Finds the directory of model `name` (a name like `sentence-transformers/all-MiniLM-L6-v2`
/// or a path).
///
/// # Errors
/// [`Error::ModelNotFound`] listing the places searched.
pub fn model_dir(name: &str) -> Result<PathBuf> {
    let mut tried = Vec::new();
    let direct = Path::new(name);
    if is_model_dir(direct) {
        return Ok(direct.to_path_buf());
    }
    tried.push(direct.display().to_string());
    if let Some(root) = std::env::var_os("SEMANTIK_MODEL_DIR") {
        let p = PathBuf::from(root).join(name);
        if is_model_dir(&p) {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    if !name.contains("..") && name.split('/').count() <= 2 {
        if let Some(hub) = hf_hub_dir() {
            if let Some(p) = hf_snapshot(&hub, name) {
                return Ok(p);
            }
            tried.push(
                hub.join(format!("models--{}", name.replace('/', "--")))
                    .display()
                    .to_string(),
            );
        }
        if let Some(cache) = cache_dir() {
            let p = cache.join("models").join(name);
            if is_model_dir(&p) {
                return Ok(p);
            }
            tried.push(p.display().to_string());
        }
    }
    Err(Error::ModelNotFound {
        name: name.to_string(),
        reason: format!(
            "no model directory found (looked in: {}); `make model` installs the default model",
            tried.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_explicit_dirs_and_hf_snapshots() {
        let root = tempfile::tempdir().unwrap();
        let explicit = root.path().join("m");
        std::fs::create_dir_all(&explicit).unwrap();
        std::fs::write(explicit.join("config.json"), "{}").unwrap();
        assert_eq!(model_dir(explicit.to_str().unwrap()).unwrap(), explicit);

        let hub = root.path().join("hub");
        let snap = hub.join("models--org--tiny/snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::create_dir_all(hub.join("models--org--tiny/refs")).unwrap();
        std::fs::write(hub.join("models--org--tiny/refs/main"), "abc123\n").unwrap();
        assert_eq!(hf_snapshot(&hub, "org/tiny").unwrap(), snap);
        assert!(hf_snapshot(&hub, "org/other").is_none());

        let err = model_dir("nobody/nothing-here").unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::ModelNotFound);
        assert!(err.to_string().contains("make model"));
    }
}

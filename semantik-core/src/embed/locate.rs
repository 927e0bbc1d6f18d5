//! Model resolution: a model name (and revision) becomes a directory of model files.
//!
//! Looked up in order: the name as a directory path; `$SEMANTIK_MODEL_DIR/<name>`; semantik's
//! own cache (`$SEMANTIK_CACHE_DIR`, `$XDG_CACHE_HOME/semantik` or `~/.cache/semantik`, layout
//! `models/<org>/<name>/`, filled by `make model`); the Hugging Face cache
//! ([`HubConfig::cache_dir`], layout `models--org--name/snapshots/<commit>/`); and, unless
//! offline, a download from the Hub into that cache. A pinned revision is looked up in the
//! Hugging Face cache only. Folders of the first three places have no commit; the others
//! report the commit they hold, which a collection records so that it never switches weights.

use std::path::{Path, PathBuf};

use super::hub::{self, DownloadProgress, HubConfig};
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

/// A directory that holds a model (it has a `config.json`).
fn is_model_dir(p: &Path) -> bool {
    p.join("config.json").is_file()
}

/// Where a model's files are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ModelLocation {
    /// The folder holding `config.json`, the tokenizer and the weights.
    pub dir: PathBuf,
    /// The Hub commit of those files; `None` for a folder outside the Hugging Face cache.
    pub revision: Option<String>,
}

/// Finds the files of model `name` (a Hub id like `sentence-transformers/all-MiniLM-L6-v2`,
/// or a path) at `revision` (a commit, tag or branch; `None`: whatever is installed, else
/// `main`), downloading them unless `hub` is offline, with `progress` told of each file's
/// bytes.
///
/// # Errors
/// [`Error::InvalidArgument`] for a revision with a path or a name that is neither a folder
/// nor a Hub id; [`Error::ModelNotFound`] when no place holds it and it cannot be
/// downloaded; [`Error::ModelDownload`] when a download fails.
pub fn locate_model(
    name: &str,
    revision: Option<&str>,
    hub: &HubConfig,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<ModelLocation> {
    if let Some(r) = revision {
        hub::check_revision(r)?;
    }
    let local = |dir: PathBuf| ModelLocation {
        dir,
        revision: None,
    };
    let direct = Path::new(name);
    if revision.is_none() && is_model_dir(direct) {
        return Ok(local(direct.to_path_buf()));
    }
    if hub::check_name(name).is_err() {
        return Err(Error::ModelNotFound {
            name: name.to_string(),
            reason: "neither a model folder (with a config.json) nor a Hugging Face model id"
                .into(),
        });
    }
    if revision.is_none() {
        let installed = std::env::var_os("SEMANTIK_MODEL_DIR")
            .map(|root| PathBuf::from(root).join(name))
            .into_iter()
            .chain(cache_dir().map(|c| c.join("models").join(name)));
        for p in installed {
            if is_model_dir(&p) {
                return Ok(local(p));
            }
        }
    }
    let snapshot = hub::fetch(name, revision, hub, progress)?;
    Ok(ModelLocation {
        dir: snapshot.dir,
        revision: Some(snapshot.commit),
    })
}

/// The folder of model `name` as [`locate_model`] finds it with the environment's
/// [`HubConfig`] (downloading it if needed).
///
/// # Errors
/// As [`locate_model`].
pub fn model_dir(name: &str) -> Result<PathBuf> {
    Ok(locate_model(name, None, &HubConfig::from_env(), &mut |_| {})?.dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dirs_are_used_and_offline_misses_are_typed() {
        let root = tempfile::tempdir().unwrap();
        let explicit = root.path().join("m");
        std::fs::create_dir_all(&explicit).unwrap();
        std::fs::write(explicit.join("config.json"), "{}").unwrap();
        let hub = HubConfig::from_env()
            .with_cache_dir(root.path().join("hub"))
            .with_offline(true);
        let found = locate_model(explicit.to_str().unwrap(), None, &hub, &mut |_| {}).unwrap();
        assert_eq!(found.dir, explicit);
        assert_eq!(found.revision, None);

        let err = locate_model("nobody/nothing-here", None, &hub, &mut |_| {}).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::ModelNotFound);
        assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
        let err = locate_model("org/m", Some("../../etc"), &hub, &mut |_| {}).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::InvalidArgument);
        let err = locate_model("/no/such/dir", None, &hub, &mut |_| {}).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::ModelNotFound);
    }
}

//! Models from the Hugging Face Hub: the cache shared with Python tools, and downloads.
//!
//! The cache is the Hub's own layout (`models--org--name/{blobs,snapshots/<commit>,refs}`
//! under `$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`), so a model fetched by
//! sentence-transformers is found here and the reverse. A model missing from it is downloaded
//! with `hf-hub` (the only module that names it): only the files a sentence-transformers model
//! needs, safetensors weights only, pinned to one commit. `hf-hub` writes each file to a
//! `.part` file and renames it into place, resuming a `.part` left by an interrupted
//! download; each new file is then checked against the hash the Hub gave as its ETag
//! (sha256 for large files, the git blob sha1 for the others) and removed if it differs.

use std::io::Read;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use serde::Deserialize;
use sha1::Digest;

use crate::error::{Error, Result};

/// Where models come from: the Hub endpoint, the access token, the cache, and whether
/// downloading is allowed.
///
/// [`HubConfig::from_env`] reads the variables Python's `huggingface_hub` reads:
/// `HF_ENDPOINT`, `HF_TOKEN` (else the file `HF_TOKEN_PATH` or `$HF_HOME/token`),
/// `HF_HUB_CACHE` / `HF_HOME` / `XDG_CACHE_HOME`, and `HF_HUB_OFFLINE` (`1`, `ON`, `YES` or
/// `TRUE`).
///
/// ```
/// use semantik_core::embed::HubConfig;
/// let hub = HubConfig::from_env().with_offline(true);
/// assert!(hub.offline);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubConfig {
    /// The Hub's address (default `https://huggingface.co`).
    pub endpoint: String,
    /// The access token for gated and private models.
    pub token: Option<String>,
    /// The Hub cache directory (the one holding `models--org--name` folders).
    pub cache_dir: PathBuf,
    /// Never download: a model missing from the cache is [`Error::ModelNotFound`].
    pub offline: bool,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .finish()
    }
}

impl HubConfig {
    /// The settings the environment gives (see the type's documentation).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let hf_home = var("HF_HOME").map(PathBuf::from).or_else(|| {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join(".cache")))
                .map(|c| c.join("huggingface"))
        });
        let cache_dir = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| hf_home.as_ref().map(|h| h.join("hub")))
            .unwrap_or_else(|| PathBuf::from(".cache/huggingface/hub"));
        let token = var("HF_TOKEN").or_else(|| {
            let path = var("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .or_else(|| hf_home.map(|h| h.join("token")))?;
            let t = std::fs::read_to_string(path).ok()?;
            Some(t.trim().to_string()).filter(|t| !t.is_empty())
        });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
        });
        HubConfig {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            token,
            cache_dir,
            offline,
        }
    }

    /// Sets the offline switch.
    pub fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Sets the endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into().trim_end_matches('/').to_string();
        self
    }

    /// Sets the cache directory.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }

    /// Sets the access token.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self::from_env()
    }
}

/// Progress of a model download, reported per file as bytes arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DownloadProgress {
    /// The model.
    pub model: String,
    /// The file being downloaded (relative to the model folder).
    pub file: String,
    /// Bytes of that file received so far (including a resumed part).
    pub bytes: u64,
    /// Its size.
    pub total: u64,
    /// Whether this report ends the file.
    pub done: bool,
}

/// A model folder in the Hub cache and the commit it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) dir: PathBuf,
    pub(crate) commit: String,
}

/// Files every model needs, besides its weights and what `modules.json` names.
const REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];
/// Files read when present.
const OPTIONAL: [&str; 3] = [
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

/// Checks a model name (`org/name` or `name`) as the Hub spells them.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(format!(
            "model name {name:?} is not a Hugging Face model id: {why}"
        )))
    };
    let parts: Vec<&str> = name.split('/').collect();
    if parts.is_empty() || parts.len() > 2 {
        return bad("expected `org/name` or `name`");
    }
    for p in parts {
        if p.is_empty() || p.len() > 96 {
            return bad("a part is empty or longer than 96 characters");
        }
        if p == "." || p == ".." || p.contains("..") || p.starts_with(['-', '.']) {
            return bad("`..`, or a part starting with `-` or `.`");
        }
        if !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad("only letters, digits, `-`, `_` and `.` are allowed");
        }
    }
    Ok(())
}

/// Checks a revision (a commit, a tag or a branch such as `refs/pr/1`).
pub(crate) fn check_revision(revision: &str) -> Result<()> {
    let ok = !revision.is_empty()
        && revision.len() <= 256
        && !revision.starts_with('/')
        && revision
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "model revision {revision:?} is not a commit, tag or branch name"
        )))
    }
}

fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

fn repo_dir(cache: &Path, name: &str) -> PathBuf {
    cache.join(format!("models--{}", name.replace('/', "--")))
}

/// The cached snapshot of `name` at `revision` (default `main`): a commit is looked up
/// directly, a tag or branch through `refs/`. Found only when it holds a model (a
/// `config.json`).
pub(crate) fn cached(cache: &Path, name: &str, revision: Option<&str>) -> Option<Snapshot> {
    let repo = repo_dir(cache, name);
    let revision = revision.unwrap_or("main");
    let commit = if is_commit(revision) {
        revision.to_string()
    } else {
        std::fs::read_to_string(repo.join("refs").join(revision))
            .ok()?
            .trim()
            .to_string()
    };
    if !is_commit(&commit) {
        return None;
    }
    let dir = repo.join("snapshots").join(&commit);
    let complete = dir.join("config.json").is_file() && has_weights(&dir);
    complete.then_some(Snapshot { dir, commit })
}

fn has_weights(dir: &Path) -> bool {
    dir.join("model.safetensors").is_file() || dir.join("model.safetensors.index.json").is_file()
}

/// Downloads `name` at `revision` (default `main`) into the cache, unless the cache holds it,
/// reporting progress; returns its snapshot.
///
/// # Errors
/// [`Error::InvalidArgument`] for a malformed name or revision; [`Error::ModelNotFound`]
/// when offline and not cached, or when the Hub has no such model, revision or weights;
/// [`Error::ModelDownload`] for network and HTTP failures, a gated model without a token,
/// and a file that does not match its hash (removed).
pub(crate) fn fetch(
    name: &str,
    revision: Option<&str>,
    hub: &HubConfig,
    progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<Snapshot> {
    check_name(name)?;
    if let Some(r) = revision {
        check_revision(r)?;
    }
    if let Some(s) = cached(&hub.cache_dir, name, revision) {
        return Ok(s);
    }
    if hub.offline {
        return Err(Error::ModelNotFound {
            name: name.to_string(),
            reason: format!(
                "not in the Hugging Face cache {} and downloads are off (HF_HUB_OFFLINE or \
                 the offline setting); download it on a machine with access (any \
                 huggingface_hub or sentence-transformers tool fills the same cache, or \
                 `make model` for the default model), or allow downloads",
                hub.cache_dir.display()
            ),
        });
    }
    Fetcher::new(name, revision, hub, progress)?.run()
}

/// One model's download.
struct Fetcher<'a> {
    name: &'a str,
    hub: &'a HubConfig,
    api: hf_hub::api::sync::Api,
    /// The revision asked for, then the commit it resolved to.
    revision: String,
    progress: &'a mut dyn FnMut(&DownloadProgress),
}

impl<'a> Fetcher<'a> {
    fn new(
        name: &'a str,
        revision: Option<&str>,
        hub: &'a HubConfig,
        progress: &'a mut dyn FnMut(&DownloadProgress),
    ) -> Result<Self> {
        let api = ApiBuilder::from_cache(Cache::new(hub.cache_dir.clone()))
            .with_endpoint(hub.endpoint.clone())
            .with_token(hub.token.clone())
            .with_progress(false)
            .build()
            .map_err(|e| download_error(name, "", &e))?;
        Ok(Fetcher {
            name,
            hub,
            api,
            revision: revision.unwrap_or("main").to_string(),
            progress,
        })
    }

    fn run(mut self) -> Result<Snapshot> {
        // The first file pins the commit: every other file comes from the same one.
        let config = self.file("config.json", true)?.expect("required");
        let commit = config
            .parent()
            .and_then(Path::file_name)
            .map(|c| c.to_string_lossy().into_owned())
            .filter(|c| is_commit(c))
            .ok_or_else(|| Error::ModelDownload {
                name: self.name.into(),
                message: "the Hub gave no commit for the model".into(),
            })?;
        self.revision = commit.clone();
        for f in REQUIRED.iter().skip(1) {
            self.file(f, true)?;
        }
        let mut modules = Vec::new();
        for f in OPTIONAL {
            if let Some(path) = self.file(f, false)?
                && f == "modules.json"
            {
                modules = read_modules(self.name, &path)?;
            }
        }
        for m in modules
            .iter()
            .filter(|m| !m.path.is_empty() && m.path != ".")
        {
            if m.path.contains("..") || m.path.starts_with('/') {
                return Err(Error::Model {
                    name: self.name.into(),
                    message: format!("modules.json names the folder {:?}", m.path),
                });
            }
            self.file(&format!("{}/config.json", m.path), false)?;
            if m.kind.ends_with("Dense") {
                self.file(&format!("{}/model.safetensors", m.path), true)?;
            }
        }
        if self.file("model.safetensors", false)?.is_none() {
            let Some(index) = self.file("model.safetensors.index.json", false)? else {
                return Err(Error::ModelNotFound {
                    name: self.name.into(),
                    reason: "the model has no safetensors weights (semantik never loads \
                             pickle files)"
                        .into(),
                });
            };
            for shard in shards(self.name, &index)? {
                self.file(&shard, true)?;
            }
        }
        cached(&self.hub.cache_dir, self.name, Some(&commit)).ok_or_else(|| Error::ModelDownload {
            name: self.name.into(),
            message: "the downloaded snapshot is incomplete".into(),
        })
    }

    /// The path of `file` in the snapshot, downloading and checking it if needed; `None` when
    /// the Hub has no such file and it is not `required`.
    fn file(&mut self, file: &str, required: bool) -> Result<Option<PathBuf>> {
        if is_commit(&self.revision) {
            let p = repo_dir(&self.hub.cache_dir, self.name)
                .join("snapshots")
                .join(&self.revision)
                .join(file);
            if p.is_file() {
                // From an earlier, interrupted fetch (checked then) or another tool.
                return Ok(Some(p));
            }
        }
        let repo = Repo::with_revision(
            self.name.to_string(),
            RepoType::Model,
            self.revision.clone(),
        );
        let reporter = Reporter {
            model: self.name,
            report: &mut *self.progress,
            current: DownloadProgress::default(),
        };
        let got = self.api.repo(repo).download_with_progress(file, reporter);
        match got {
            Ok(path) => {
                verify(self.name, file, &path)?;
                Ok(Some(path))
            }
            Err(e) if status(&e) == Some(404) => {
                if required {
                    Err(Error::ModelNotFound {
                        name: self.name.into(),
                        reason: format!(
                            "the Hub has no {file} for revision {} (or no such model)",
                            self.revision
                        ),
                    })
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(download_error(self.name, file, &e)),
        }
    }
}

/// Forwards `hf-hub`'s progress calls.
struct Reporter<'a> {
    model: &'a str,
    report: &'a mut dyn FnMut(&DownloadProgress),
    current: DownloadProgress,
}

impl hf_hub::api::Progress for Reporter<'_> {
    fn init(&mut self, size: usize, filename: &str) {
        self.current = DownloadProgress {
            model: self.model.to_string(),
            file: filename.to_string(),
            bytes: 0,
            total: size as u64,
            done: false,
        };
        (self.report)(&self.current);
    }

    fn update(&mut self, size: usize) {
        self.current.bytes += size as u64;
        (self.report)(&self.current);
    }

    fn finish(&mut self) {
        self.current.done = true;
        (self.report)(&self.current);
    }
}

/// The HTTP status of a failed request.
fn status(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::RequestError(e) => match e.as_ref() {
            ureq::Error::Status(code, _) => Some(*code),
            ureq::Error::Transport(_) => None,
        },
        _ => None,
    }
}

fn download_error(name: &str, file: &str, e: &ApiError) -> Error {
    let what = match status(e) {
        Some(401 | 403) => "the model is gated or private: accept its terms on the Hub and \
                            set HF_TOKEN (or the token file) to a token with access"
            .to_string(),
        Some(code) => format!("the Hub answered HTTP {code}"),
        None => match e {
            ApiError::MissingHeader(h) => format!(
                "the answer is not a Hub file (no {h} header): is HF_ENDPOINT a Hugging Face \
                 Hub?"
            ),
            other => other.to_string(),
        },
    };
    Error::ModelDownload {
        name: name.to_string(),
        message: if file.is_empty() {
            what
        } else {
            format!("{file}: {what}")
        },
    }
}

/// Checks a downloaded file against the hash its blob is named by (the Hub's ETag: sha256 of
/// a large file, git's blob sha1 of a small one); removes it (blob and snapshot entry) when
/// it differs.
fn verify(name: &str, file: &str, path: &Path) -> Result<()> {
    let blob = std::fs::canonicalize(path).map_err(|e| Error::ModelDownload {
        name: name.into(),
        message: format!("{file}: {e}"),
    })?;
    let etag = blob
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let actual = match etag.len() {
        64 => hash_file::<sha2::Sha256>(&blob, None),
        40 => hash_file::<sha1::Sha1>(&blob, Some("blob")),
        // An ETag that is no content hash (a mirror's): nothing to check against.
        _ => return Ok(()),
    }
    .map_err(|e| Error::ModelDownload {
        name: name.into(),
        message: format!("{file}: {e}"),
    })?;
    if actual == etag {
        return Ok(());
    }
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(&blob);
    Err(Error::ModelDownload {
        name: name.into(),
        message: format!(
            "{file} does not match its hash (expected {etag}, got {actual}); it was removed"
        ),
    })
}

/// Hex digest of a file; with `git`, of git's object header (`blob <len>\0`) and the file.
fn hash_file<D: Digest>(path: &Path, git: Option<&str>) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut d = D::new();
    if let Some(kind) = git {
        d.update(format!("{kind} {}\0", f.metadata()?.len()).as_bytes());
    }
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        d.update(&buf[..n]);
    }
    Ok(d.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModuleEntry {
    #[serde(default)]
    pub(crate) path: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

pub(crate) fn read_modules(name: &str, path: &Path) -> Result<Vec<ModuleEntry>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Model {
        name: name.into(),
        message: format!("modules.json: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Model {
        name: name.into(),
        message: format!("modules.json: {e}"),
    })
}

/// The shard files of a sharded safetensors checkpoint.
fn shards(name: &str, index: &Path) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let err = |message: String| Error::Model {
        name: name.into(),
        message,
    };
    let text = std::fs::read_to_string(index)
        .map_err(|e| err(format!("model.safetensors.index.json: {e}")))?;
    let index: Index = serde_json::from_str(&text)
        .map_err(|e| err(format!("model.safetensors.index.json: {e}")))?;
    let mut files: Vec<String> = index.weight_map.into_values().collect();
    files.sort();
    files.dedup();
    match files
        .iter()
        .find(|f| f.contains("..") || f.contains('/') || !f.ends_with(".safetensors"))
    {
        Some(f) => Err(err(format!("the weight index names the file {f:?}"))),
        None => Ok(files),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_revisions_are_checked() {
        for ok in [
            "sentence-transformers/all-MiniLM-L6-v2",
            "gpt2",
            "org/m.v1_2",
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b/c",
            "../x",
            "org/..",
            "/abs",
            "org/na me",
            "org/-x",
            "a//b",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for ok in [
            "main",
            "v1.0",
            "refs/pr/8",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            assert!(check_revision(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../../x", "a/../b", "main//x", "a b"] {
            assert!(check_revision(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn git_blob_sha1_matches_git() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "hello\n").unwrap();
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            hash_file::<sha1::Sha1>(&p, Some("blob")).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn cached_snapshots_are_found_by_commit_and_by_ref() {
        let hub = tempfile::tempdir().unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let repo = repo_dir(hub.path(), "org/m");
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        assert_eq!(
            cached(hub.path(), "org/m", Some(commit)),
            None,
            "no weights"
        );
        std::fs::write(snap.join("model.safetensors"), "x").unwrap();
        assert_eq!(cached(hub.path(), "org/m", None), None, "no refs/main");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        let want = Some(Snapshot {
            dir: snap.clone(),
            commit: commit.into(),
        });
        assert_eq!(cached(hub.path(), "org/m", None), want);
        assert_eq!(cached(hub.path(), "org/m", Some(commit)), want);
        assert_eq!(cached(hub.path(), "org/m", Some("v2")), None);
    }
}

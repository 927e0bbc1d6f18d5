//! A local stand-in for the Hugging Face Hub, on 127.0.0.1, for the download tests: the
//! Hub's `resolve` endpoint with its headers (`X-Repo-Commit`, `ETag` as the git blob sha1
//! of small files and `X-Linked-Etag` / `X-Linked-Size` with a redirect to a CDN path for
//! large ones, `Content-Range` for ranges), revisions by branch, tag or commit, `X-Error-Code`
//! on 404 and 401, and faults a test switches on per file: an HTML page instead of the file, a
//! body cut short, bytes that do not match their hash.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha1::Digest as _;

/// What a test makes a file do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A 200 HTML page without the Hub's headers.
    Html,
    /// The headers announce the whole file; the body stops after this many bytes.
    Truncate(usize),
    /// Other bytes than the hash in the headers.
    WrongBytes,
}

#[derive(Debug, Default)]
struct Repo {
    /// Commit -> files.
    commits: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Branch or tag -> commit.
    refs: HashMap<String, String>,
    /// Needs `Authorization: Bearer <token>`.
    token: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    repos: HashMap<String, Repo>,
    faults: HashMap<String, Fault>,
    /// Every request: `METHOD path [range]`.
    log: Vec<String>,
    /// Blobs by sha256, for the CDN path.
    blobs: HashMap<String, Vec<u8>>,
}

/// The server; it stops serving when dropped (its thread ends with the test process).
#[derive(Debug, Clone)]
pub struct MockHub {
    pub url: String,
    state: Arc<Mutex<State>>,
}

/// Files larger than this are served like Git LFS files (sha256 ETag, redirect).
const LFS_ABOVE: usize = 10_000;

impl MockHub {
    pub fn start() -> MockHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        MockHub { url, state }
    }

    /// Publishes `files` as commit `commit` of `repo`, pointed at by each of `refs`.
    pub fn publish(
        &self,
        repo: &str,
        commit: &str,
        refs: &[&str],
        files: BTreeMap<String, Vec<u8>>,
    ) {
        let mut s = self.state.lock().unwrap();
        for bytes in files.values() {
            if bytes.len() > LFS_ABOVE {
                s.blobs.insert(sha256(bytes), bytes.clone());
            }
        }
        let r = s.repos.entry(repo.to_string()).or_default();
        r.commits.insert(commit.to_string(), files);
        for name in refs {
            r.refs.insert(name.to_string(), commit.to_string());
        }
    }

    /// Makes `repo` gated: only requests with `token` get its files.
    pub fn gate(&self, repo: &str, token: &str) {
        self.state
            .lock()
            .unwrap()
            .repos
            .get_mut(repo)
            .unwrap()
            .token = Some(token.into());
    }

    pub fn fault(&self, file: &str, fault: Option<Fault>) {
        let mut s = self.state.lock().unwrap();
        match fault {
            Some(f) => s.faults.insert(file.into(), f),
            None => s.faults.remove(file),
        };
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

/// Every file of the model folder `dir` (recursively), by relative path.
pub fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub fn sha256(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn git_sha1(bytes: &[u8]) -> String {
    let mut d = sha1::Sha1::new();
    d.update(format!("blob {}\0", bytes.len()).as_bytes());
    d.update(bytes);
    hex(&d.finalize())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-decoding of a path segment.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Bytes of `body` actually sent (a cut body).
    send: Option<usize>,
}

impl Response {
    fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            send: None,
        }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    state.lock().unwrap().log.push(format!(
        "{method} {target}{}",
        range.as_ref().map_or(String::new(), |r| format!(" [{r}]"))
    ));
    let response = respond(state, &method, &target, &headers);
    let mut out = stream;
    let mut body = response.body;
    let (status, mut hs) = (response.status, response.headers);
    let full_len = body.len();
    // Ranges over the whole body (206), for file and CDN answers.
    let mut status = status;
    if status == 200
        && let Some(r) = range.as_deref().and_then(|r| r.strip_prefix("bytes="))
    {
        let (a, b) = r.split_once('-').unwrap_or((r, ""));
        let a: usize = a.parse().unwrap_or(0);
        let b: usize = b.parse().map_or(full_len.saturating_sub(1), |b: usize| {
            b.min(full_len.saturating_sub(1))
        });
        if a >= full_len && full_len > 0 {
            status = 416;
            hs.push(("Content-Range".into(), format!("bytes */{full_len}")));
            body.clear();
        } else {
            status = 206;
            hs.push(("Content-Range".into(), format!("bytes {a}-{b}/{full_len}")));
            body = body[a.min(full_len)..(b + 1).min(full_len)].to_vec();
        }
    }
    let send = response.send.map_or(body.len(), |n| n.min(body.len()));
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in &hs {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    out.write_all(head.as_bytes())?;
    if method != "HEAD" {
        out.write_all(&body[..send])?;
    }
    out.flush()?;
    // Drain what the client still sends, then close.
    let _ = reader
        .get_mut()
        .set_read_timeout(Some(std::time::Duration::from_millis(10)));
    let _ = reader.read(&mut [0u8; 64]);
    Ok(())
}

fn respond(
    state: &Mutex<State>,
    _method: &str,
    target: &str,
    headers: &HashMap<String, String>,
) -> Response {
    let s = state.lock().unwrap();
    let path = target.split('?').next().unwrap_or("");
    if let Some(sha) = path.strip_prefix("/cdn/") {
        return match s.blobs.get(sha) {
            Some(bytes) => {
                let mut r = Response::new(200).header("ETag", format!("\"{sha}\""));
                r.body = bytes.clone();
                r
            }
            None => Response::new(404),
        };
    }
    // /{org}/{name}/resolve/{revision}/{file...}
    let segs: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let [org, name, "resolve", revision, file] = segs[..] else {
        return Response::new(404).header("X-Error-Code", "RepoNotFound");
    };
    let (repo_id, revision, file) = (format!("{org}/{name}"), decode(revision), decode(file));
    let Some(repo) = s.repos.get(&repo_id) else {
        return Response::new(404).header("X-Error-Code", "RepoNotFound");
    };
    if let Some(token) = &repo.token
        && headers.get("authorization") != Some(&format!("Bearer {token}"))
    {
        return Response::new(401).header("X-Error-Code", "GatedRepo");
    }
    let commit = match repo.refs.get(&revision) {
        Some(c) => c.clone(),
        None if repo.commits.contains_key(&revision) => revision.clone(),
        None => return Response::new(404).header("X-Error-Code", "RevisionNotFound"),
    };
    let Some(bytes) = repo.commits[&commit].get(&file) else {
        return Response::new(404)
            .header("X-Error-Code", "EntryNotFound")
            .header("X-Repo-Commit", commit.clone());
    };
    let fault = s.faults.get(&file).copied();
    if fault == Some(Fault::Html) {
        let mut r = Response::new(200).header("Content-Type", "text/html");
        r.body = b"<!doctype html><html><body>Please sign in</body></html>".to_vec();
        return r;
    }
    let lfs = bytes.len() > LFS_ABOVE;
    let etag = if lfs { sha256(bytes) } else { git_sha1(bytes) };
    if lfs && !matches!(fault, Some(Fault::Truncate(_)) | Some(Fault::WrongBytes)) {
        // Large files are served by the CDN, like Git LFS files on the Hub.
        return Response::new(302)
            .header("Location", format!("http://{}/cdn/{etag}", headers["host"]))
            .header("X-Repo-Commit", commit)
            .header("X-Linked-Etag", format!("\"{etag}\""))
            .header("X-Linked-Size", bytes.len().to_string())
            .header("ETag", format!("\"{}\"", git_sha1(etag.as_bytes())));
    }
    let mut r = Response::new(200)
        .header("X-Repo-Commit", commit)
        .header("ETag", format!("\"{etag}\""))
        .header("Accept-Ranges", "bytes");
    r.body = bytes.clone();
    match fault {
        Some(Fault::Truncate(n)) if headers.get("range").is_none_or(|r| r == "bytes=0-") => {
            r.send = Some(n);
        }
        Some(Fault::WrongBytes) => {
            let mid = r.body.len() / 2;
            r.body[mid] ^= 0xff;
        }
        _ => {}
    }
    r
}

//! Hostile inputs: a 1 GB text file, a DOCX zip bomb, HTML nested 100k deep, PDFs whose object
//! graphs are cycles, a file rewritten while it is read, a symlink loop and links out of the
//! source. Each may fail only itself; the good files beside them are indexed. The ingest runs
//! in a child process, so that a crash (a stack overflow cannot be caught) fails the test with
//! the file that caused it, and the child's own peak memory is measured.
//! (A model folder holding a pickle file instead of safetensors is refused in
//! `embedding::model_folder_with_only_pickle_weights_is_refused`.)

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use semantik_core::{Database, DocumentStatus, SourceOptions, SymlinkPolicy};

use crate::common::{lines_of, spawn_child, text_collection, write_passages};

const DIR_ENV: &str = "SEMANTIK_HOSTILE_DIR";

/// A PDF of `objects` (numbered from 1; object 1 is the catalog), with a correct xref table.
fn pdf(objects: &[&str]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A DOCX whose document.xml inflates to `bytes` bytes.
fn zip_bomb(bytes: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("word/document.xml", options).unwrap();
    let run = "<w:r><w:t>bomb</w:t></w:r>".repeat(1 << 15);
    let mut written = 0;
    while written < bytes {
        zip.write_all(run.as_bytes()).unwrap();
        written += run.len();
    }
    zip.finish().unwrap().into_inner()
}

/// Writes the hostile folder: `name -> whether it must index` (`None`: either way).
fn write_hostile(root: &Path, outside: &Path) -> HashMap<&'static str, Option<bool>> {
    let src = root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut expect = HashMap::new();
    for (i, p) in write_passages(&src.join("good"), 3).iter().enumerate() {
        let name: &'static str = [
            "good/passage-0000.txt",
            "good/passage-0001.txt",
            "good/passage-0002.txt",
        ][i];
        assert!(p.ends_with(name));
        expect.insert(name, Some(true));
    }
    // 1 GB of text (sparse, after a real first line): over the size limit, never read.
    let big = std::fs::File::create(src.join("huge.txt")).unwrap();
    (&big)
        .write_all(b"the first line of a very large text file\n")
        .unwrap();
    big.set_len(1 << 30).unwrap();
    expect.insert("huge.txt", Some(false));
    std::fs::write(src.join("bomb.docx"), zip_bomb(1 << 30)).unwrap();
    expect.insert("bomb.docx", Some(false));
    let deep = format!(
        "<html><body>{}deep{}</body></html>",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    std::fs::write(src.join("deep.html"), deep).unwrap();
    expect.insert("deep.html", Some(false));
    // A page tree whose node is its own kid, and a page that is its own parent.
    std::fs::write(
        src.join("cyclic-kids.pdf"),
        pdf(&[
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]),
    )
    .unwrap();
    expect.insert("cyclic-kids.pdf", Some(false));
    std::fs::write(
        src.join("cyclic-refs.pdf"),
        pdf(&[
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 3 0 R /Resources 4 0 R /Contents 5 0 R /MediaBox [0 0 612 792] >>",
            "<< /Font 4 0 R /XObject 4 0 R /Parent 4 0 R >>",
            "<< /Length 6 0 R >>\nstream\nBT /F1 12 Tf (loop) Tj ET\nendstream",
            "6 0 R",
        ]),
    )
    .unwrap();
    // Self-referencing objects: read or refused, as long as it ends.
    expect.insert("cyclic-refs.pdf", None);
    // A loop back to the source, and a link to a file outside it.
    std::os::unix::fs::symlink(&src, src.join("loop")).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside the source root").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), src.join("escape.txt")).unwrap();
    expect
}

/// Child side: ingests the hostile folder with every symlink policy, printing one line per
/// document and the peak memory.
#[test]
#[ignore = "child process of hostile_inputs_fail_alone_in_bounded_memory"]
fn hostile_child() {
    let Some(root) = std::env::var_os(DIR_ENV).map(PathBuf::from) else {
        return;
    };
    let src = root.join("src");
    let db = Database::open(root.join("db")).unwrap();
    // A file rewritten (with a different length) while the ingest runs.
    let changing = src.join("changing.txt");
    let versions = [
        "version one of a changing file. ".repeat(200),
        "version two, longer, of the changing file. ".repeat(300),
    ];
    std::fs::write(&changing, &versions[0]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rewriter = {
        let (stop, changing, versions) = (stop.clone(), changing.clone(), versions.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let _ = std::fs::write(&changing, &versions[i % 2]);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let start = Instant::now();
    for (name, policy) in [
        ("skip", SymlinkPolicy::Skip),
        ("within", SymlinkPolicy::WithinSource),
        ("follow", SymlinkPolicy::Follow),
    ] {
        let col = db.create_collection(text_collection(name)).unwrap();
        let op = col
            .add_source(&src, SourceOptions::new().with_symlinks(policy))
            .unwrap();
        let info = op.wait(Some(Duration::from_secs(600))).unwrap();
        for d in col.documents().unwrap() {
            let rel = d.source.as_ref().unwrap().strip_prefix(&src).unwrap();
            let text_ok = match (d.status, rel.to_str().unwrap()) {
                (DocumentStatus::Indexed, "changing.txt") => {
                    let t = col.text(&d.id).unwrap();
                    // Empty is a state the file really has, between truncation and write.
                    if t.trim().is_empty() || versions.iter().any(|v| v.trim() == t.trim()) {
                        "true".to_string()
                    } else {
                        format!("false:{}-bytes", t.len())
                    }
                }
                _ => "true".to_string(),
            };
            println!(
                "DOC {name} {} {:?} {text_ok} {}",
                rel.display(),
                d.status,
                d.error
                    .map(|e| e.message)
                    .unwrap_or_default()
                    .replace('\n', " ")
            );
        }
        println!(
            "OP {name} indexed {} failed {}",
            info.progress.documents_indexed(),
            info.progress.documents_failed()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    rewriter.join().unwrap();
    let peak = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
        .unwrap();
    println!("PEAK {peak} ELAPSED {:.1}", start.elapsed().as_secs_f64());
    println!("DONE");
}

#[test]
fn hostile_inputs_fail_alone_in_bounded_memory() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let expect = write_hostile(root.path(), outside.path());
    let mut child = spawn_child("hostile::hostile_child", &[(DIR_ENV, root.path())]);
    let lines = lines_of(&mut child);
    let mut out = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(900)) {
        out.push(line);
    }
    let status = child.wait().unwrap();
    let text = out.join("\n");
    assert!(
        status.success() && text.contains("DONE"),
        "the child died: {status}\n{text}"
    );
    // policy -> file -> (status, text consistent, error)
    let mut docs: HashMap<&str, HashMap<&str, (&str, &str, &str)>> = HashMap::new();
    for line in &out {
        let Some(rest) = line.split("DOC ").nth(1) else {
            continue;
        };
        let mut parts = rest.splitn(5, ' ');
        let (policy, file, status, consistent) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let error = parts.next().unwrap_or("");
        docs.entry(policy)
            .or_default()
            .insert(file, (status, consistent, error));
    }
    for policy in ["skip", "within", "follow"] {
        let got = &docs[policy];
        for (file, &indexes) in &expect {
            let (status, _, error) = got
                .get(file)
                .unwrap_or_else(|| panic!("{policy}: {file} not listed\n{text}"));
            if let Some(indexes) = indexes {
                let want = if indexes { "Indexed" } else { "Failed" };
                assert_eq!(*status, want, "{policy}: {file}: {error}\n{text}");
            }
            if *status == "Failed" {
                assert!(
                    !error.is_empty(),
                    "{policy}: {file} failed without a reason"
                );
            }
        }
        // The changing file is indexed as one whole state it had, or fails alone.
        let (status, consistent, _) = got["changing.txt"];
        assert!(
            status == "Failed" || consistent == "true",
            "{policy}: changing.txt was indexed as no whole version ({consistent})"
        );
        // Links: a link out of the source is followed only when allowed; the loop is never
        // walked twice.
        let escaped = got.contains_key("escape.txt");
        assert_eq!(escaped, policy == "follow", "{policy}: escape.txt\n{text}");
        assert!(
            got.keys().all(|f| !f.starts_with("loop/loop")),
            "{policy}: the symlink loop was walked\n{text}"
        );
    }
    let peak_kib: u64 = text
        .split("PEAK ")
        .nth(1)
        .and_then(|r| r.split(" kB").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    println!(
        "{}",
        out.iter()
            .filter(|l| l.contains("PEAK") || l.contains("OP "))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The zip bomb inflates to 1 GiB and the text file is 1 GiB: neither is held in memory.
    assert!(peak_kib < 700 * 1024, "peak memory {peak_kib} KiB\n{text}");
}

//! Tests of the extractors on real files: the committed fixtures (`tests/fixtures`, see its
//! README) and, when present, the documents `scripts/fetch-test-data.sh` fetches.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[cfg(feature = "html")]
use super::html::MAX_DEPTH as MAX_HTML_DEPTH;
use super::*;

/// The first of `candidates` (relative to the crate) that exists.
fn find_dir(candidates: &[&str]) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    candidates.iter().map(|c| root.join(c)).find(|p| p.is_dir())
}

/// `tests/fixtures` of the repository.
fn fixtures() -> PathBuf {
    find_dir(&["../tests/fixtures"]).expect("tests/fixtures")
}

/// The test data fetched by `scripts/fetch-test-data.sh` (`make test` runs it).
fn testdata() -> PathBuf {
    find_dir(&["../.cache/testdata"])
        .expect("the fetched test data is missing: run scripts/fetch-test-data.sh (make test does)")
}

fn fixture(name: &str) -> (PathBuf, Vec<u8>) {
    let path = fixtures().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, bytes)
}

fn ok(name: &str) -> Extracted {
    let (path, bytes) = fixture(name);
    let e = extract(&path, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_invariants(name, &e);
    e
}

fn err(name: &str) -> Error {
    let (path, bytes) = fixture(name);
    match extract(&path, &bytes) {
        Ok(e) => panic!(
            "{name}: expected an error, got {:?}",
            &e.text[..e.text.len().min(200)]
        ),
        Err(e) => e,
    }
}

#[cfg_attr(not(any(feature = "pdf", feature = "docx")), allow(dead_code))]
fn is_read_error(e: &Error) -> bool {
    matches!(e, Error::DocumentRead { .. })
}

/// Offsets are on character boundaries and ascending; a heading's offset is where its text is
/// (or, in Markdown, its line).
fn check_invariants(name: &str, e: &Extracted) {
    if let Err(broken) = crate::fuzzing::check(e) {
        panic!("{name}: {broken}");
    }
    for h in &e.headings {
        let at = &e.text[h.start..];
        if e.media_type == "text/markdown" {
            let line = at.lines().next().unwrap_or_default();
            assert!(
                line.contains(h.title.split(' ').next().unwrap()),
                "{name}: {h:?} at {line:?}"
            );
        } else {
            let first_word = h.title.split(' ').next().unwrap();
            assert!(
                at.starts_with(first_word),
                "{name}: {h:?} at {:?}",
                &at[..at.len().min(40)]
            );
        }
    }
}

// ---- sniffing ----

#[test]
fn sniffs_fixtures_by_content_then_extension() {
    let cases = [
        ("ltnews18.pdf", "application/pdf"),
        ("pdf-truncated.pdf", "application/pdf"),
        ("pdf-encrypted.pdf", "application/pdf"),
        ("par-known-styles.docx", DOCX),
        ("docx-truncated.docx", DOCX),
        ("docx-no-document.docx", DOCX),
        ("python-copy.html", "text/html"),
        ("html-broken.html", "text/html"),
        ("html-latin1-meta.html", "text/html"),
        ("ham-plain.eml", "message/rfc822"),
        ("email-broken-mime.eml", "message/rfc822"),
        ("email-garbage.eml", BINARY),
        ("python-docx-README.md", "text/markdown"),
        ("spam-assassin-README.md", "text/markdown"),
        ("python-copy.rst.txt", "text/x-rst"),
        ("python-docx-HISTORY.rst", "text/x-rst"),
        ("whatsnew-2.5-latin1.txt", "text/plain"),
        ("unicode-howto-utf16le.txt", "text/plain"),
        ("unicode-howto-utf16be.txt", "text/plain"),
        ("binary.txt", BINARY),
    ];
    for (name, want) in cases {
        let (path, bytes) = fixture(name);
        assert_eq!(sniff(&path, &bytes), want, "{name}");
    }
    // Content wins over the extension; the extension decides for text.
    let (_, eml) = fixture("ham-plain.eml");
    assert_eq!(sniff(Path::new("message"), &eml), "message/rfc822");
    assert_eq!(
        sniff(Path::new("a.txt"), b"  <!DOCTYPE HTML>\n<p>x"),
        "text/html"
    );
    assert_eq!(
        sniff(Path::new("a"), b"\xEF\xBB\xBF<html><body>x"),
        "text/html"
    );
    assert_eq!(sniff(Path::new("a"), b"<!-- c -->\n<html>"), "text/html");
    assert_eq!(
        sniff(Path::new("a.md"), b"<!-- c -->\n# Title"),
        "text/markdown"
    );
    assert_eq!(
        sniff(Path::new("x.pdf"), b"junk\n%PDF-1.4\n"),
        "application/pdf"
    );
    assert_eq!(
        sniff(Path::new("x.md"), b"PDFs start with %PDF-1.4\n"),
        "text/markdown"
    );
    assert_eq!(
        sniff(Path::new("a.zip"), b"PK\x03\x04\x14\0\0\0other.txt"),
        BINARY
    );
    assert_eq!(sniff(Path::new("a.py"), b"import os\n"), "text/x-python");
    assert_eq!(sniff(Path::new("a.rs"), b"fn main() {}\n"), "text/x-rust");
    assert_eq!(sniff(Path::new("a.json"), b"{}"), "application/json");
    assert_eq!(sniff(Path::new("a"), b"plain words"), "text/plain");
    // Header-like text that only mail has, or not.
    let mail = b"Return-Path: <a@b>\nSubject: hi\n\nbody";
    assert_eq!(sniff(Path::new("a.txt"), mail), "message/rfc822");
    let front_matter = b"title: notes\ndate: 2024-01-01\n\nbody";
    assert_eq!(sniff(Path::new("notes.txt"), front_matter), "text/plain");
    assert_eq!(
        sniff(Path::new("a.txt"), b"Note: one line only\n"),
        "text/plain"
    );
}

#[test]
fn every_fixture_extracts_or_fails_with_a_typed_error() {
    let mut n = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "README.md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| extract(&path, &bytes));
        match result {
            Ok(Ok(e)) => check_invariants(&path.display().to_string(), &e),
            Ok(Err(Error::DocumentRead { .. } | Error::UnsupportedContent { .. })) => {}
            Ok(Err(e)) => panic!("{}: unexpected error {e}", path.display()),
            Err(_) => panic!("{} panicked", path.display()),
        }
        n += 1;
    }
    assert!(n >= 20, "only {n} fixtures");
}

#[test]
fn unsupported_types_name_their_media_type() {
    match extract(Path::new("a.zip"), b"PK\x03\x04\x14\0\0\0other.txt\0\0") {
        Err(Error::UnsupportedContent { media_type, .. }) => assert_eq!(media_type, BINARY),
        other => panic!("{other:?}"),
    }
    assert!(extractor_for("image/png").is_none());
    assert!(extractor_for("text/plain").is_some());
}

// ---- plain text and reST ----

#[test]
fn latin1_text_is_detected_and_decoded() {
    let e = ok("whatsnew-2.5-latin1.txt");
    assert_eq!(e.media_type, "text/plain");
    for name in [
        "Gerhard Häring",
        "Marc-André Lemburg",
        "Martin von Löwis",
        "Lars Gustäbel",
    ] {
        assert!(e.text.contains(name), "{name}");
    }
    assert!(!e.text.contains('\u{FFFD}'));
    assert!(e.headings.is_empty(), "no headings outside reST");
}

#[test]
fn utf16_with_bom_is_decoded() {
    let le = ok("unicode-howto-utf16le.txt");
    assert!(
        le.text.starts_with(".. _unicode-howto:"),
        "{:?}",
        &le.text[..40]
    );
    assert!(le.text.contains("ROMAN NUMERAL EIGHT"));
    assert!(le.text.contains("'😀'; GRINNING FACE"), "surrogate pairs");
    assert!(le.text.contains("'Ⅷ'"));
    let be = ok("unicode-howto-utf16be.txt");
    assert!(be.text.starts_with(".. _unicode-howto:"));
    assert!(
        le.text.starts_with(&be.text),
        "the BE file is the first lines of the LE one"
    );
}

#[test]
fn binary_text_is_unsupported() {
    match err("binary.txt") {
        Error::UnsupportedContent { media_type, .. } => assert_eq!(media_type, BINARY),
        other => panic!("{other:?}"),
    }
    // NUL bytes reach the text extractor only when a caller forces it.
    let r = extractor_for("text/plain")
        .unwrap()
        .extract(Path::new("a.txt"), b"ab\0cd");
    assert!(matches!(r, Err(Error::UnsupportedContent { .. })));
}

#[test]
fn rst_headings_from_python_docs_and_python_docx() {
    let e = ok("python-copy.rst.txt");
    assert_eq!(e.media_type, "text/x-rst");
    let title = ":mod:`copy` --- Shallow and deep copy operations";
    assert_eq!(
        e.headings[0],
        Heading {
            start: 0,
            level: 1,
            title: title.into()
        }
    );
    assert_eq!(e.title.as_deref(), Some(title));
    // `--------------` between blank lines is a transition, not a heading.
    assert_eq!(e.headings.len(), 1, "{:?}", e.headings);

    let e = ok("python-docx-HISTORY.rst");
    assert_eq!(e.title.as_deref(), Some("Release History"));
    assert_eq!((e.headings[0].start, e.headings[0].level), (16, 1));
    assert_eq!(e.headings[1].title, "1.2.0 (2025-06-16)");
    assert_eq!(e.headings[1].level, 2);
    assert!(e.headings[1..].iter().all(|h| h.level == 2));
    assert_eq!(e.headings.len(), 37);
}

#[test]
fn rst_overlines_levels_and_non_headings() {
    let text = "=====\nTitle\n=====\n\nIntro.\n\nSection\n-------\n\n  Indented\n  --------\n\n\
                Sub\n~~~\n\nOther section\n-------------\n\nshort\n--\n\nlonger title\n---\n";
    let h = super::text::rst_headings(text);
    let got: Vec<(&str, u8)> = h.iter().map(|h| (h.title.as_str(), h.level)).collect();
    assert_eq!(
        got,
        [
            ("Title", 1),
            ("Section", 2),
            ("Sub", 3),
            ("Other section", 2)
        ],
        "an indented title without overline and a too-short underline are not headings"
    );
    assert_eq!(h[0].start, 6);
    assert_eq!(&text[h[1].start..h[1].start + 7], "Section");
}

#[test]
fn a_megabyte_of_text_is_fast() {
    let line = "The quick brown fox jumps over the lazy dog; voilà, naïve café.\n";
    let utf8 = line.repeat(1024 * 1024 / line.len());
    let latin1: Vec<u8> = utf8.chars().map(|c| c as u32 as u8).collect();
    let t = Instant::now();
    let a = extract(Path::new("big.txt"), utf8.as_bytes()).unwrap();
    let b = extract(Path::new("big.txt"), &latin1).unwrap();
    let md = extract(Path::new("big.md"), utf8.as_bytes()).unwrap();
    let rst = extract(Path::new("big.rst"), utf8.as_bytes()).unwrap();
    let elapsed = t.elapsed();
    assert_eq!(a.text, utf8);
    assert_eq!(b.text, utf8, "Latin-1 detected");
    assert_eq!(md.text.len(), utf8.len());
    assert!(rst.headings.is_empty());
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?} for 4 x 1 MB");
}

// ---- Markdown ----

#[cfg(feature = "markdown")]
#[test]
fn markdown_keeps_the_source_and_finds_headings() {
    let (_, source) = fixture("python-docx-README.md");
    let e = ok("python-docx-README.md");
    assert_eq!(e.text.as_bytes(), source, "text is the source unchanged");
    assert_eq!(e.title.as_deref(), Some("python-docx"));
    let got: Vec<(usize, u8, &str)> = e
        .headings
        .iter()
        .map(|h| (h.start, h.level, h.title.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (0, 1, "python-docx"),
            (122, 2, "Installation"),
            (172, 2, "Example")
        ]
    );

    let e = ok("spam-assassin-README.md");
    assert_eq!(
        e.title.as_deref(),
        Some("Spam Assassin"),
        "after an HTML comment block"
    );
    assert!(
        e.headings
            .iter()
            .any(|h| h.level == 4 && h.title == "corpus()")
    );
    assert!(e.text[e.headings[0].start..].starts_with("# Spam Assassin"));
}

#[cfg(feature = "markdown")]
#[test]
fn markdown_setext_front_matter_and_inline_markup() {
    let text = "---\ntitle: x\n---\n\nMain *title*\n============\n\nSub `code`\n---\n\n# ATX [link](u) #\n";
    let e = extract(Path::new("a.md"), text.as_bytes()).unwrap();
    let got: Vec<(u8, &str)> = e
        .headings
        .iter()
        .map(|h| (h.level, h.title.as_str()))
        .collect();
    assert_eq!(got, [(1, "Main title"), (2, "Sub code"), (1, "ATX link")]);
    assert_eq!(e.headings[0].start, text.find("Main").unwrap());
    assert_eq!(e.title.as_deref(), Some("Main title"));
}

// ---- HTML ----

#[cfg(feature = "html")]
#[test]
fn html_python_docs_page_without_boilerplate() {
    let e = ok("python-copy.html");
    assert_eq!(
        e.title.as_deref(),
        Some("copy — Shallow and deep copy operations — Python 3.11.2 documentation")
    );
    assert_eq!(e.headings[0].level, 1);
    assert_eq!(
        e.headings[0].title,
        "copy — Shallow and deep copy operations"
    );
    assert_eq!(
        e.headings[0].start, 0,
        "navigation before the content is dropped"
    );
    assert!(e.text.contains("\n\nReturn a deep copy of x.\n\n"));
    assert!(
        e.text
            .contains("- A shallow copy constructs a new compound object")
    );
    for boilerplate in [
        "¶",
        "Navigation",
        "Previous topic",
        "Theme",
        "Copyright",
        "var ",
        "{",
    ] {
        assert!(!e.text.contains(boilerplate), "{boilerplate:?} in the text");
    }
    assert!(
        !e.text.contains("  ") && !e.text.contains("\n\n\n"),
        "whitespace collapsed"
    );
}

#[cfg(feature = "html")]
#[test]
fn html_structure_pre_tables_and_lists() {
    let page = "<html><head><title> T </title><script>x()</script></head><body>\
        <nav>menu</nav><header>site</header><h1>Top <a class=headerlink>¶</a></h1>\
        <p>one  <b>two</b>\n three</p><pre>a  b\n  c</pre><ul><li>x</li><li>y<ol><li>z</li></ol></li></ul>\
        <table><tr><th>h1</th><th>h2</th></tr><tr><td>c1</td><td>c2</td></tr></table>\
        <article><header><h2>Post</h2></header><p>line<br>break</p></article>\
        <div role=navigation>links</div><div hidden>gone</div><footer>foot</footer></body></html>";
    let e = extract(Path::new("a.html"), page.as_bytes()).unwrap();
    assert_eq!(
        e.text,
        "Top\n\none two three\n\na  b\n  c\n\n- x\n- y\n- z\n\nh1\th2\nc1\tc2\n\nPost\n\nline\nbreak"
    );
    assert_eq!(e.title.as_deref(), Some("T"));
    let got: Vec<(usize, u8, &str)> = e
        .headings
        .iter()
        .map(|h| (h.start, h.level, h.title.as_str()))
        .collect();
    let post = e.text.find("Post").unwrap();
    assert_eq!(got, [(0, 1, "Top"), (post, 2, "Post")]);
}

#[cfg(feature = "html")]
#[test]
fn html_charset_from_meta_and_broken_markup() {
    let e = ok("html-latin1-meta.html");
    assert_eq!(e.title.as_deref(), Some("Café crème"));
    assert_eq!(e.text, "Naïve résumé\n\nGrüße aus Köln, señor.");

    // A stray NUL in a page is no reason to drop it.
    let e = extract(Path::new("nul.html"), b"<html><body><p>a\0b</p>").unwrap();
    assert_eq!(e.text, "ab");

    // Broken markup is repaired as browsers do (HTML5 parsing never fails).
    let e = ok("html-broken.html");
    assert_eq!(e.title.as_deref(), Some("Broken <b>page"));
    assert!(
        e.text
            .starts_with("First paragraph bold mis-nested text\n\n")
    );
    assert!(e.text.contains("cell one\tcell two"));
    assert!(e.text.contains("- item two\n- nested"));
    assert!(e.text.contains("& &bogus; AB <tag>"));
    assert!(!e.text.contains("not text") && !e.text.contains("hidden by the comment"));
    assert_eq!(e.headings.len(), 1);
}

#[cfg(feature = "html")]
#[test]
fn html_100k_nested_elements_neither_exhaust_the_stack_nor_take_long() {
    let depth = 100_000;
    for tag in ["div", "span", "li", "p", "blockquote"] {
        let open = format!("<{tag} class=x>").repeat(depth);
        let page = format!(
            "<html><body>{open}deep text{}</body></html>",
            format!("</{tag}>").repeat(depth)
        );
        let t = Instant::now();
        // A thread with a small stack shows any recursion in parsing, walking or dropping.
        let result = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || extract(Path::new("deep.html"), page.as_bytes()))
            .unwrap()
            .join()
            .expect("no stack overflow");
        match (tag, result) {
            // Elements that the next one closes do not nest.
            ("li" | "p", Ok(e)) => assert!(e.text.contains("deep text"), "{tag}"),
            ("div" | "span" | "blockquote", Err(Error::DocumentRead { message, .. })) => {
                assert!(message.contains("deeper than 4096"), "{message}");
            }
            (tag, other) => panic!("{tag}: {other:?}"),
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{tag}: {:?}",
            t.elapsed()
        );
    }
    // Just under the limit is read, and quickly.
    let page = format!(
        "{}x{}",
        "<div>".repeat(MAX_HTML_DEPTH - 10),
        "</div>".repeat(MAX_HTML_DEPTH - 10)
    );
    let t = Instant::now();
    assert_eq!(
        extract(Path::new("d.html"), page.as_bytes()).unwrap().text,
        "x"
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Comments, raw text and void elements do not count.
    let page = format!(
        "<div>{}</div>",
        "<br><img src=x><!-- <div> --><script><div></script><x/>".repeat(10_000)
    );
    assert!(extract(Path::new("d.html"), page.as_bytes()).is_ok());
}

// ---- PDF ----

#[cfg(feature = "pdf")]
#[test]
fn pdf_text_pages_and_title() {
    let e = ok("tools-overview.pdf");
    assert_eq!(e.media_type, "application/pdf");
    assert_eq!(e.title.as_deref(), Some("LaTeX's Tools Bundle"));
    assert_eq!(e.pages.len(), 2);
    assert_eq!(e.pages[0], (0, 1));
    let (second, n) = e.pages[1];
    assert_eq!(n, 2);
    assert_eq!(
        &e.text[second - 2..second],
        "\n\n",
        "pages separated by a blank line"
    );
    assert!(e.text.starts_with(
        "Contents of LATEX’s Tools Bundle\n\nafterpage: Place text after the current page."
    ));
    assert!(e.text.contains("multicol: Typeset text in columns"));
    assert!(e.text[second..].starts_with("verbatim: Flexible version of verbatim environment."));

    let e = ok("ltnews18.pdf");
    assert!(e.text.contains("Issue 18, December 2007"));
    assert_eq!(e.title, None, "the Info /Title is empty");
    assert_eq!(e.pages, [(0, 1)]);
}

#[cfg(feature = "pdf")]
#[test]
fn pdf_encrypted_truncated_and_garbage_fail_cleanly() {
    match err("pdf-encrypted.pdf") {
        Error::DocumentRead { message, .. } => assert!(message.contains("encrypted"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Only an owner password: opens with the empty user password.
    let owner = ok("pdf-owner-password.pdf");
    assert_eq!(owner.text, ok("ltnews18.pdf").text);
    assert!(is_read_error(&err("pdf-truncated.pdf")));
    let garbage = extract(
        Path::new("g.pdf"),
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n",
    );
    assert!(
        matches!(garbage, Err(Error::DocumentRead { .. })),
        "{garbage:?}"
    );
    // Cut at many points: never a panic, always a typed result.
    let (_, bytes) = fixture("tools-overview.pdf");
    for cut in (0..bytes.len()).step_by(bytes.len() / 40) {
        let r = extract(Path::new("cut.pdf"), &bytes[..cut]);
        assert!(
            matches!(r, Ok(_) | Err(Error::DocumentRead { .. })),
            "cut at {cut}"
        );
    }
}

#[cfg(feature = "pdf")]
#[test]
fn pdf_page_whose_parent_is_itself_fails_cleanly() {
    // Found by `make fuzz`: the page's /Parent is the page, and pdf-extract 0.12.1 looked for
    // its inherited /MediaBox without end. Now lopdf reads it, and stops at the loop.
    assert!(is_read_error(&err("pdf-parent-loop.pdf")));
}

#[cfg(feature = "pdf")]
#[test]
fn pdf_page_that_panics_pdf_extract_falls_back_to_lopdf() {
    // pdf-extract 0.12.1 panics on this file's fonts ("missing unicode map and encoding").
    let path = testdata().join("pdf/latex/pspicture/pspicture.pdf");
    let bytes = std::fs::read(&path).unwrap();
    let e = extract(&path, &bytes).unwrap();
    assert_eq!(e.pages.len(), 3);
    assert!(e.text.contains("pspicture"), "{}", &e.text[..200]);
}

// ---- DOCX ----

#[cfg(feature = "docx")]
#[test]
fn docx_paragraphs_headings_tables_and_title() {
    let e = ok("par-known-styles.docx");
    assert_eq!(
        e.text,
        "no specified style\n\nmissing style\n\nHeading 1\n\nBody Text"
    );
    assert_eq!(
        e.headings,
        [Heading {
            start: 35,
            level: 1,
            title: "Heading 1".into()
        }]
    );

    let e = ok("blk-paras-and-tables.docx");
    assert!(
        e.text
            .starts_with("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n\n")
    );
    assert!(
        e.text.contains("Text before Table Between Text after"),
        "nested table in a cell"
    );

    let e = ok("doc-coreprops.docx");
    assert_eq!(e.title.as_deref(), Some("Title"));
    assert_eq!(e.text, "");
}

#[cfg(feature = "docx")]
fn make_docx(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[cfg(feature = "docx")]
#[test]
fn docx_runs_tabs_breaks_tables_and_style_names() {
    let w = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;
    let document = format!(
        r#"<?xml version="1.0"?><w:document {w} xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>
        <w:p><w:pPr><w:pStyle w:val="Title"/><w:tabs><w:tab w:val="left"/></w:tabs></w:pPr><w:r><w:t>Doc</w:t></w:r><w:r><w:t xml:space="preserve"> title</w:t></w:r></w:p>
        <w:p><w:pPr><w:pStyle w:val="berschrift2"/></w:pPr><w:r><w:t>Localised &amp; named</w:t></w:r></w:p>
        <w:p><w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t><w:delText>deleted</w:delText></w:r></w:p>
        <w:p/>
        <w:tbl><w:tr><w:tc><w:p><w:r><w:t>r1c1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>r1c2</w:t></w:r></w:p><w:p><w:r><w:t>more</w:t></w:r></w:p></w:tc></w:tr>
        <w:tr><w:tc><w:p><w:r><w:t>r2c1</w:t></w:r></w:p></w:tc><w:tc><w:p/></w:tc></w:tr></w:tbl>
        <w:p><w:r><mc:AlternateContent><mc:Choice><w:t>choice</w:t></mc:Choice><mc:Fallback><w:t>fallback</w:t></mc:Fallback></mc:AlternateContent></w:r></w:p>
        <w:p><w:pPr><w:outlineLvl w:val="2"/></w:pPr><w:r><w:t>Outline three</w:t></w:r></w:p>
        </w:body></w:document>"#
    );
    let styles = format!(
        r#"<w:styles {w}><w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/></w:style></w:styles>"#
    );
    let core = r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Core &amp; title</dc:title></cp:coreProperties>"#;
    let bytes = make_docx(&[
        ("word/document.xml", &document),
        ("word/styles.xml", &styles),
        ("docProps/core.xml", core),
    ]);
    let e = extract(Path::new("gen.docx"), &bytes).unwrap();
    assert_eq!(
        e.text,
        "Doc title\n\nLocalised & named\n\na\tb\nc\n\nr1c1\tr1c2 more\nr2c1\t\n\nchoice\n\nOutline three"
    );
    assert_eq!(e.title.as_deref(), Some("Core & title"));
    let got: Vec<(u8, &str)> = e
        .headings
        .iter()
        .map(|h| (h.level, h.title.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "Doc title"),
            (2, "Localised & named"),
            (3, "Outline three")
        ]
    );
    check_invariants("gen.docx", &e);
}

#[cfg(feature = "docx")]
#[test]
fn docx_malformed_and_oversized_entries_fail_cleanly() {
    assert!(is_read_error(&err("docx-truncated.docx")));
    match err("docx-no-document.docx") {
        Error::DocumentRead { message, .. } => assert!(message.contains("word/document.xml")),
        other => panic!("{other:?}"),
    }
    // More than the limit uncompressed (the real limit is 256 MiB).
    let big = format!("<w:document>{}</w:document>", "x".repeat(4096));
    let bytes = make_docx(&[("word/document.xml", &big)]);
    match super::docx::read_docx(Path::new("big.docx"), &bytes, 1024) {
        Err(Error::DocumentRead { message, .. }) => {
            assert!(message.contains("larger"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Not XML.
    let bytes = make_docx(&[("word/document.xml", "<w:document><w:p>")]);
    assert!(extract(Path::new("bad.docx"), &bytes).is_ok_and(|e| e.text.is_empty()));
    let bytes = make_docx(&[("word/document.xml", "<a></b>")]);
    assert!(matches!(
        extract(Path::new("bad.docx"), &bytes),
        Err(Error::DocumentRead { .. })
    ));
}

// ---- e-mail ----

#[cfg(feature = "email")]
#[test]
fn email_headers_then_plain_body() {
    let e = ok("ham-plain.eml");
    assert_eq!(e.media_type, "message/rfc822");
    assert_eq!(e.title.as_deref(), Some("FYI - gone this weekend"));
    assert!(e.text.starts_with(
        "From: Daniel Quinlan <quinlan@pathname.com>\n\
         To: zzzz@spamassassin.taint.org, craig@deersoft.com\n\
         Date: Fri, 23 Aug 2002 03:31:20 -0700\n\
         Subject: FYI - gone this weekend\n\n\
         I won't be reading email until Sunday night or so."
    ));
    assert!(e.text.ends_with("- Dan"));
}

#[cfg(feature = "email")]
#[test]
fn email_multipart_prefers_text_and_converts_html_only() {
    let e = ok("ham-multipart-alternative.eml");
    assert_eq!(e.title.as_deref(), Some("Tiny DNS Swap"));
    assert!(e.text.contains("I'm using Simple DNS from JHSoft."));
    let body = e.text.split_once("\n\n").unwrap().1;
    assert!(
        !body.contains('<') && !body.contains("=20"),
        "text part, quoted-printable decoded"
    );

    let e = ok("spam-html-only.eml");
    assert_eq!(e.title.as_deref(), Some("MULTIPLY YOUR CUSTOMER BASE!"));
    assert!(e.text.contains("COST EFFECTIVE Direct Email Advertising"));
    let body = e.text.split_once("\n\n").unwrap().1;
    assert!(
        !body.contains('<') && !body.contains("&nbsp;"),
        "HTML converted: {body}"
    );
}

#[cfg(feature = "email")]
#[test]
fn email_garbage_and_broken_mime() {
    assert!(matches!(
        err("email-garbage.eml"),
        Error::UnsupportedContent { .. }
    ));
    // Forced through the e-mail extractor, garbage is a read error.
    let (path, bytes) = fixture("email-garbage.eml");
    let r = extractor_for("message/rfc822")
        .unwrap()
        .extract(&path, &bytes);
    assert!(matches!(r, Err(Error::DocumentRead { .. })), "{r:?}");
    let r = extractor_for("message/rfc822").unwrap().extract(&path, b"");
    assert!(matches!(r, Err(Error::DocumentRead { .. })), "{r:?}");
    // A multipart body whose boundary never comes: the headers are still read.
    let e = ok("email-broken-mime.eml");
    assert_eq!(e.title.as_deref(), Some("FYI - gone this weekend"));
    assert!(e.text.starts_with("From: Daniel Quinlan"));
}

// ---- fetched data (skipped when absent) ----

/// Files under `dir` whose name ends with `suffix`, sorted.
#[cfg_attr(
    not(any(feature = "email", feature = "docx", feature = "html")),
    allow(dead_code)
)]
fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                if !p.ends_with("_sources") {
                    stack.push(p);
                }
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fetched_emails_and_docx_all_read() {
    let data = testdata();
    #[cfg(feature = "email")]
    {
        let emails = files_under(&data.join("email"), ".eml");
        assert_eq!(emails.len(), 250);
        for path in &emails {
            let bytes = std::fs::read(path).unwrap();
            let e = extract(path, &bytes).unwrap_or_else(|e| panic!("{e}"));
            assert!(e.text.starts_with("From: "), "{}", path.display());
            check_invariants(&path.display().to_string(), &e);
        }
    }
    #[cfg(feature = "docx")]
    {
        let docx = files_under(&data.join("docx"), ".docx");
        assert_eq!(docx.len(), 47);
        let mut read = 0;
        for path in &docx {
            let bytes = std::fs::read(path).unwrap();
            if let Ok(e) = extract(path, &bytes) {
                check_invariants(&path.display().to_string(), &e);
                read += 1;
            }
        }
        assert!(read >= 45, "{read} of 47");
    }
    let _ = data;
}

#[cfg(feature = "html")]
#[test]
fn fetched_python_docs_html_all_read() {
    let data = testdata();
    let pages = files_under(&data.join("html/"), ".html");
    assert!(pages.len() > 500, "{}", pages.len());
    for path in &pages {
        let bytes = std::fs::read(path).unwrap();
        let e = extract(path, &bytes).unwrap();
        assert!(e.title.is_some(), "{}", path.display());
        check_invariants(&path.display().to_string(), &e);
    }
}

//! What a chunk of reStructuredText or Markdown says without its markup: the text that is
//! embedded, keyword-indexed and shown. Prose, headings and code stay; directive and role
//! syntax, labels, link targets, comments and heading underlines go. The stored text and the
//! chunks' offsets keep the original.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::text::adornment;

/// `text` (a chunk of a document of `media_type`) without its markup syntax.
pub(crate) fn clean<'t>(media_type: &str, text: &'t str) -> Cow<'t, str> {
    match media_type {
        "text/x-rst" => Cow::Owned(tidy(&rst(text))),
        "text/markdown" => Cow::Owned(tidy(&markdown(text))),
        _ => Cow::Borrowed(text),
    }
}

/// Directives whose content is markup, not prose: dropped with their indented body.
const DROPPED_DIRECTIVES: &[&str] = &[
    "index",
    "toctree",
    "highlight",
    "raw",
    "include",
    "image",
    "sectionauthor",
    "moduleauthor",
    "contents",
    "only",
    "tabularcolumns",
    "default-role",
    "currentmodule",
];

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid pattern")
}

fn rst(text: &str) -> String {
    static DIRECTIVE: LazyLock<Regex> = LazyLock::new(|| re(r"^([\w:.+-]+)::(?:\s+(.*))?$"));
    static FIELD: LazyLock<Regex> = LazyLock::new(|| re(r"^:[\w.+ -]+:(?:\s+(.*))?$"));
    let mut out = Vec::new();
    // The indentation of an explicit markup block being dropped: its deeper lines go too.
    let mut dropping: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        if let Some(at) = dropping {
            if trimmed.is_empty() || indent > at {
                continue;
            }
            dropping = None;
        }
        if trimmed.is_empty() {
            out.push(String::new());
            continue;
        }
        if adornment(trimmed).is_some() {
            continue;
        }
        if trimmed == ".." || trimmed.starts_with(".. ") {
            let rest = trimmed.trim_start_matches('.').trim_start();
            if let Some(c) = DIRECTIVE.captures(rest) {
                let name = c.get(1).map_or("", |m| m.as_str());
                if DROPPED_DIRECTIVES.contains(&name) {
                    dropping = Some(indent);
                } else if let Some(args) = c.get(2) {
                    out.push(args.as_str().to_string());
                }
            } else if let Some(note) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
                // A footnote or citation: its text stays.
                out.push(note.1.trim().to_string());
            } else {
                // A label, a substitution definition or a comment.
                dropping = Some(indent);
            }
            continue;
        }
        if !trimmed.contains('`')
            && let Some(c) = FIELD.captures(trimmed)
        {
            // A directive's option or a field: its value stays.
            if let Some(value) = c.get(1) {
                out.push(value.as_str().to_string());
            }
            continue;
        }
        out.push(literal_block_marker(line));
    }
    inline_rst(&out.join("\n"))
}

/// A line ending in the `::` that announces a literal block, without it (`Example::` reads
/// `Example:`, `text ::` reads `text`, a `::` alone nothing).
fn literal_block_marker(line: &str) -> String {
    match line.strip_suffix("::") {
        Some(head) if head.trim().is_empty() => String::new(),
        Some(head) => match head.strip_suffix(' ') {
            Some(h) => h.trim_end().to_string(),
            None => format!("{head}:"),
        },
        None => line.to_string(),
    }
}

/// Inline reST markup, which may span lines: roles and interpreted text, links, literals and
/// strong emphasis.
fn inline_rst(text: &str) -> String {
    static ROLE: LazyLock<Regex> =
        LazyLock::new(|| re(r":[\w.+-]+(?::[\w.+-]+)?:`([^`]*)`|`([^`]+)`_{0,2}"));
    static LITERAL: LazyLock<Regex> = LazyLock::new(|| re(r"``([^`]+)``"));
    let line = LITERAL.replace_all(text, "\u{0}$1\u{0}");
    let line = ROLE.replace_all(&line, |c: &regex::Captures<'_>| {
        let inner = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
        // `Title <target>` shows its title; `~mod.name` and `!name` their name.
        let shown = match inner.rfind(" <") {
            Some(at) if inner.ends_with('>') => &inner[..at],
            _ if inner.starts_with('<') && inner.ends_with('>') => &inner[1..inner.len() - 1],
            _ => inner,
        };
        shown.trim_start_matches(['~', '!']).to_string()
    });
    line.replace('\u{0}', "").replace("**", "")
}

fn markdown(text: &str) -> String {
    static COMMENT: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)<!--.*?-->"));
    static DEFINITION: LazyLock<Regex> = LazyLock::new(|| re(r"^\s{0,3}\[[^\]]+\]:\s"));
    static FENCE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s{0,3}(```|~~~)"));
    static HEADING: LazyLock<Regex> = LazyLock::new(|| re(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$"));
    static LINK: LazyLock<Regex> = LazyLock::new(|| re(r"!?\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])"));
    static TAG: LazyLock<Regex> = LazyLock::new(|| re(r"</?[A-Za-z][^>\n]*>"));
    let text = COMMENT.replace_all(text, "");
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if DEFINITION.is_match(line)
            || FENCE.is_match(line)
            || adornment(trimmed).is_some_and(|(c, _)| c == b'=' || c == b'-')
        {
            continue;
        }
        let line = match HEADING.captures(line) {
            Some(c) => c.get(1).map_or("", |m| m.as_str()).to_string(),
            None => line.to_string(),
        };
        let line = LINK.replace_all(&line, "$1");
        out.push(TAG.replace_all(&line, "").into_owned());
    }
    out.join("\n")
}

/// Trailing spaces and runs of blank lines left by dropped lines removed; trimmed.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rst_keeps_prose_headings_and_code_and_drops_markup() {
        let src = "\
.. _tut-files:

Reading and Writing Files
=========================

.. index::
   builtin: open
   object: file

:func:`open` returns a :term:`file object`, and is most commonly used with two
positional arguments: ``open(filename, mode)``.  See :ref:`the tutorial <tut-io>`
and `PEP 8 <https://peps.python.org/pep-0008/>`_.

.. function:: open(file, mode='r')
   :noindex:

   Open *file*::

      >>> f = open('workfile', 'w')

.. note::

   Text mode is the default.

.. This is a comment
   spanning lines.
";
        let got = clean("text/x-rst", src);
        assert_eq!(
            got,
            "Reading and Writing Files\n\n\
             open returns a file object, and is most commonly used with two\n\
             positional arguments: open(filename, mode).  See the tutorial\n\
             and PEP 8.\n\n\
             open(file, mode='r')\n\n   Open *file*:\n\n      >>> f = open('workfile', 'w')\n\n\
             \x20  Text mode is the default."
        );
        assert_eq!(clean("text/x-rst", ".. _label:\n"), "");
        assert_eq!(clean("text/plain", ":term:`x`"), ":term:`x`");
    }

    #[test]
    fn markdown_drops_comments_link_syntax_fences_and_heading_marks() {
        let src = "\
# Install <!-- hidden -->

See [the guide](https://example.com/guide) and ![a diagram](d.png).

```sh
pip install semantik
```

[guide]: https://example.com/guide
<br/>
";
        assert_eq!(
            clean("text/markdown", src),
            "Install\n\nSee the guide and a diagram.\n\npip install semantik"
        );
    }
}

//! E-mail (RFC 822 / MIME, mail-parser): the main headers, then the text body; an HTML-only body
//! goes through the HTML extractor.

use std::path::Path;

use mail_parser::{Address, HeaderValue, MessageParser, PartType};

use super::{Extracted, Extractor, read_error};
use crate::error::Result;

/// E-mail messages (`.eml`, one message; an mbox `From ` line first is allowed).
#[derive(Debug)]
pub(crate) struct Email;

impl Extractor for Email {
    fn media_types(&self) -> &'static [&'static str] {
        &["message/rfc822"]
    }

    fn extract(&self, path: &Path, bytes: &[u8]) -> Result<Extracted> {
        // An mbox separator line ("From sender date") is not a header.
        let raw = match bytes.strip_prefix(b"From ") {
            Some(rest) => rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(&[][..], |i| &rest[i + 1..]),
            None => bytes,
        };
        let message = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| read_error(path, "not an e-mail message: no RFC 822 headers"))?;
        let header_text = |name: &str| {
            message
                .header_raw(name)
                .map(super::collapse_whitespace)
                .filter(|v| !v.is_empty())
        };
        let from = message
            .from()
            .map(addresses)
            .filter(|s| !s.is_empty())
            .or_else(|| header_text("From"));
        let to = message
            .to()
            .map(addresses)
            .filter(|s| !s.is_empty())
            .or_else(|| header_text("To"));
        let date = message
            .date()
            .map(|d| d.to_rfc822())
            .or_else(|| header_text("Date"));
        let subject = message
            .subject()
            .map(super::collapse_whitespace)
            .filter(|s| !s.is_empty());
        let known = from.is_some()
            || to.is_some()
            || date.is_some()
            || subject.is_some()
            || message.message_id().is_some()
            || matches!(message.header("Received"), Some(v) if !matches!(v, HeaderValue::Empty));
        if !known {
            return Err(read_error(
                path,
                "not an e-mail message: no From, To, Date, Subject, Message-ID or Received header",
            ));
        }
        let mut text = String::new();
        for (name, value) in [
            ("From", &from),
            ("To", &to),
            ("Date", &date),
            ("Subject", &subject),
        ] {
            if let Some(value) = value {
                text.push_str(name);
                text.push_str(": ");
                text.push_str(value);
                text.push('\n');
            }
        }
        let mut body = String::new();
        for (i, part) in message.text_bodies().enumerate() {
            let part_text = match &part.body {
                PartType::Text(t) => t.to_string(),
                PartType::Html(h) => {
                    html_to_text(h, || message.body_text(i)).map_err(|m| read_error(path, m))?
                }
                _ => continue,
            };
            let part_text = part_text.replace("\r\n", "\n");
            let part_text = part_text.trim_matches(['\n', '\r', ' ', '\t']);
            if part_text.is_empty() {
                continue;
            }
            if !body.is_empty() {
                body.push_str("\n\n");
            }
            body.push_str(part_text);
        }
        if !body.is_empty() {
            text.push('\n');
            text.push_str(&body);
        }
        Ok(Extracted {
            text,
            media_type: "message/rfc822".to_string(),
            title: subject,
            pages: Vec::new(),
            headings: Vec::new(),
        })
    }
}

/// The text of an HTML body: the HTML extractor's when it is compiled in, else mail-parser's.
#[cfg(feature = "html")]
fn html_to_text<'a>(
    html: &str,
    _fallback: impl FnOnce() -> Option<std::borrow::Cow<'a, str>>,
) -> std::result::Result<String, String> {
    super::html::html_text(html).map(|page| page.text)
}

/// The text of an HTML body: the HTML extractor's when it is compiled in, else mail-parser's.
#[cfg(not(feature = "html"))]
fn html_to_text<'a>(
    _html: &str,
    fallback: impl FnOnce() -> Option<std::borrow::Cow<'a, str>>,
) -> std::result::Result<String, String> {
    Ok(fallback().map(|t| t.into_owned()).unwrap_or_default())
}

/// `Name <address>, ...` of an address header.
fn addresses(address: &Address<'_>) -> String {
    address
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (Some(name), None) => name.to_string(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

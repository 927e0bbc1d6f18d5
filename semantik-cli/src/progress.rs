//! Following an operation to its end: a progress bar on stderr driven by the operation's
//! events, and the documents that failed on the way.

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use semantik_core::{ErrorInfo, EventKind, Operation, OperationInfo, Phase, Progress, Result};

use crate::interrupt;
use crate::output::name_of;

/// One document an operation could not process.
#[derive(Debug, Clone)]
pub struct FailedDocument {
    /// The document's id.
    pub document_id: String,
    /// Its source path, for documents read from files.
    pub source: Option<String>,
    /// Why it failed.
    pub error: ErrorInfo,
}

/// How an operation ended, when it completed.
#[derive(Debug)]
pub struct Outcome {
    /// The operation's final record.
    pub info: OperationInfo,
    /// The documents that failed, in the order they were reported.
    pub failed: Vec<FailedDocument>,
}

/// Waits for `op` to end, showing a bar labelled `label` when `show` is set and stderr is a
/// terminal. Ctrl-C meanwhile cancels the operation.
///
/// # Errors
/// The operation's own error when it failed, [`semantik_core::Error::Cancelled`] when it was
/// cancelled.
pub fn follow(op: &Operation, label: &str, show: bool) -> Result<Outcome> {
    let _interrupt = interrupt::Guard::new(op);
    let bar = Bar::new(label, show && std::io::stderr().is_terminal());
    let mut failed = Vec::new();
    for event in op.events() {
        match event.kind {
            EventKind::Progress { progress } => bar.update(&progress),
            EventKind::DocumentFailed {
                document_id,
                source,
                error,
            } => failed.push(FailedDocument {
                document_id,
                source,
                error,
            }),
            _ => {}
        }
    }
    bar.finish();
    let info = op.wait(None)?;
    Ok(Outcome { info, failed })
}

/// A bar of `template` on stderr, or drawing nothing unless `visible`.
fn styled(visible: bool, template: &str) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("progress template")
            .progress_chars("=> "),
    );
    bar
}

/// The progress bar of one operation (drawing nothing when hidden).
#[derive(Debug)]
struct Bar {
    bar: ProgressBar,
    /// The phase last shown: rates and estimates restart when it changes.
    phase: Cell<Option<Phase>>,
}

impl Bar {
    /// A bar that counts documents once their number is known.
    fn new(label: &str, visible: bool) -> Bar {
        let bar = styled(
            visible,
            "{spinner} {prefix}: {msg:10} [{bar:30}] {pos}/{len} (eta {eta})",
        );
        bar.set_prefix(label.to_string());
        bar.set_message("queued");
        if visible {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Bar {
            bar,
            phase: Cell::new(None),
        }
    }

    /// Shows a progress snapshot: documents, or while indexing, vectors.
    fn update(&self, p: &Progress) {
        if self.phase.replace(Some(p.phase())) != Some(p.phase()) {
            self.bar.reset();
            self.bar.set_message(name_of(&p.phase()));
        }
        let (done, total) = match (p.phase(), p.vectors_total()) {
            (Phase::Indexing, Some(total)) => (p.vectors_indexed(), Some(total)),
            _ => (p.documents_done(), p.documents_total()),
        };
        if let Some(total) = total {
            self.bar.set_length(total);
        }
        self.bar.set_position(done);
    }

    /// Removes the bar from the terminal.
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar of a model's download: bytes of the file being fetched (drawing nothing when hidden
/// or when nothing is downloaded).
#[derive(Debug)]
pub struct DownloadBar {
    bar: ProgressBar,
    file: std::cell::RefCell<String>,
}

impl DownloadBar {
    /// A bar for `model`, visible when `show` is set and stderr is a terminal.
    pub fn new(model: &str, show: bool) -> DownloadBar {
        let bar = styled(
            show && std::io::stderr().is_terminal(),
            "{prefix} {msg:24} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        );
        bar.set_prefix(format!("downloading {model}"));
        DownloadBar {
            bar,
            file: std::cell::RefCell::new(String::new()),
        }
    }

    /// Shows a download report.
    pub fn update(&self, p: &semantik_core::embed::DownloadProgress) {
        if *self.file.borrow() != p.file {
            self.bar.reset();
            self.bar.set_message(p.file.clone());
            *self.file.borrow_mut() = p.file.clone();
        }
        self.bar.set_length(p.total);
        self.bar.set_position(p.bytes);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

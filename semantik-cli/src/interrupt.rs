//! Ctrl-C: the first press cancels the operation being waited for (it stops at the next
//! document boundary, keeping what it committed, and the command ends with the cancellation
//! error); a second press, or one while no operation is waited for, exits at once with 130.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use semantik_core::Operation;

/// The operation a command is waiting for, if any.
static CURRENT: Mutex<Option<Operation>> = Mutex::new(None);
/// Whether Ctrl-C was pressed once already.
static PRESSED: AtomicBool = AtomicBool::new(false);

/// Installs the handler. Without one (it could not be installed), Ctrl-C ends the process
/// as usual and the database's crash recovery marks the interrupted operation failed.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        let current = CURRENT.lock().ok().and_then(|c| c.clone());
        match current {
            Some(op) if !PRESSED.swap(true, Ordering::SeqCst) => {
                eprintln!("\nsemantik: cancelling (press Ctrl-C again to quit at once)");
                op.cancel();
            }
            _ => std::process::exit(130),
        }
    });
}

/// Makes `op` the operation Ctrl-C cancels, until the guard is dropped.
#[derive(Debug)]
pub struct Guard(());

impl Guard {
    /// Registers `op`.
    pub fn new(op: &Operation) -> Guard {
        if let Ok(mut c) = CURRENT.lock() {
            *c = Some(op.clone());
        }
        Guard(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut c) = CURRENT.lock() {
            *c = None;
        }
    }
}

//! The checked layer every pointer crosses: arguments in (handles, strings, arrays), values
//! out (handles, strings, JSON). Exported functions use only these helpers on raw pointers.

use std::ffi::{CStr, CString, c_char};
use std::sync::atomic::{AtomicU64, Ordering};

use semantik_core::Error;

use crate::error::{guard, sk_status};

/// An opaque handle type: what C sees is a pointer to `Self`, a zero-sized marker; the value
/// behind it is a [`Tagged`] `Self::Inner`. The tag is checked on every use so that a NULL,
/// foreign or freed handle (while its memory is not reused) is an error, not a crash.
pub(crate) trait Handle {
    /// The value a handle holds.
    type Inner;
    /// The C type name, for messages.
    const NAME: &'static str;
    /// The tag a live handle of this type carries.
    const TAG: u64;
}

/// Implements [`Handle`] for an opaque C type.
macro_rules! handle {
    ($t:ident, $inner:ty, $tag:expr) => {
        impl $crate::ffi::Handle for $t {
            type Inner = $inner;
            const NAME: &'static str = stringify!($t);
            const TAG: u64 = $tag;
        }
    };
}
pub(crate) use handle;

/// The memory behind every handle: the tag first (`repr(C)`), so that it is read at the same
/// offset whatever the handle's type.
#[repr(C)]
pub(crate) struct Tagged<T> {
    tag: AtomicU64,
    value: T,
}

impl<T> Tagged<T> {
    /// A live value of handle type `H`, for handles lent to C for the duration of a call.
    pub(crate) fn new<H: Handle<Inner = T>>(value: T) -> Self {
        Tagged {
            tag: AtomicU64::new(H::TAG),
            value,
        }
    }

    /// A pointer C may use as an `H` while this value lives.
    pub(crate) fn lend<H: Handle<Inner = T>>(&self) -> *const H {
        std::ptr::from_ref(self).cast()
    }
}

/// Moves a value to the heap as a handle for C.
pub(crate) fn new_handle<H: Handle>(value: H::Inner) -> *mut H {
    Box::into_raw(Box::new(Tagged::new::<H>(value))).cast()
}

/// Borrows the value of a handle argument.
///
/// # Safety
/// `p` is NULL or a handle from this library (a live one of any type, or one freed whose use is
/// documented as undefined).
pub(crate) unsafe fn handle_arg<'a, H: Handle>(
    p: *const H,
    name: &str,
) -> Result<&'a H::Inner, Error> {
    if p.is_null() {
        return Err(null_arg(name));
    }
    let tagged = p.cast::<Tagged<H::Inner>>();
    // SAFETY: every handle starts with an `AtomicU64` tag (`repr(C)`), whatever its type.
    let tag = unsafe { &*std::ptr::addr_of!((*tagged).tag) };
    if tag.load(Ordering::Acquire) != H::TAG {
        return Err(invalid_arg(&format!(
            "{name} is not a live {} (freed, or another type)",
            H::NAME
        )));
    }
    // SAFETY: the tag says this is a live `Tagged<H::Inner>`.
    Ok(unsafe { &(*tagged).value })
}

/// Frees a handle from [`new_handle`] and returns its value; NULL, dead handles and handles of
/// another type are ignored. Of two racing frees only one takes the value.
///
/// # Safety
/// `p` is NULL or a handle from this library, with no other use of it running.
pub(crate) unsafe fn free_handle<H: Handle>(p: *mut H) -> Option<H::Inner> {
    if p.is_null() {
        return None;
    }
    let tagged = p.cast::<Tagged<H::Inner>>();
    // SAFETY: as in `handle_arg`.
    let tag = unsafe { &*std::ptr::addr_of!((*tagged).tag) };
    tag.compare_exchange(H::TAG, 0, Ordering::AcqRel, Ordering::Acquire)
        .ok()?;
    // SAFETY: a live handle from `new_handle` (its tag was live), freed once (now dead).
    Some(unsafe { Box::from_raw(tagged) }.value)
}

/// The body of an exported getter: borrows handle argument `h` (called `name`), checks `out`
/// (called `out_name`), computes the value with `f` and writes it to `*out` only if `f`
/// succeeded.
///
/// # Safety
/// `h` as in [`handle_arg`]; `out` NULL or writable.
pub(crate) unsafe fn get<H: Handle, T>(
    h: *const H,
    name: &str,
    out: *mut T,
    out_name: &str,
    f: impl FnOnce(&H::Inner) -> Result<T, Error>,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let value = unsafe { handle_arg(h, name) }?;
        out_arg(out, out_name)?;
        let result = f(value)?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { write_out(out, result) };
        Ok(())
    })
}

/// The body of an exported function that returns only a status: borrows handle argument `h`
/// (called `name`) and runs `f` on it.
///
/// # Safety
/// `h` as in [`handle_arg`].
pub(crate) unsafe fn act<H: Handle>(
    h: *const H,
    name: &str,
    f: impl FnOnce(&H::Inner) -> Result<(), Error>,
) -> sk_status {
    // SAFETY: per the contract.
    guard(|| f(unsafe { handle_arg(h, name) }?))
}

/// An owned C string (freed with `sk_string_free`) of `value` as JSON, for [`get`].
pub(crate) fn json_string<T: serde::Serialize>(value: &T) -> Result<*mut c_char, Error> {
    Ok(c_string(&to_json(value)?).into_raw())
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn str_arg<'a>(s: *const c_char, name: &str) -> Result<&'a str, Error> {
    if s.is_null() {
        return Err(null_arg(name));
    }
    // SAFETY: checked non-NULL; the caller guarantees NUL termination.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| invalid_arg(&format!("{name} is not valid UTF-8")))
}

/// Reads an optional string argument (NULL: `None`).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    s: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    if s.is_null() {
        Ok(None)
    } else {
        // SAFETY: as the caller's contract.
        unsafe { str_arg(s, name) }.map(Some)
    }
}

/// Reads `len` strings from an array argument (`strings` may be NULL only when `len` is 0).
///
/// # Safety
/// `strings` points to `len` pointers, each NULL or a NUL-terminated string.
pub(crate) unsafe fn str_array<'a>(
    strings: *const *const c_char,
    len: usize,
    name: &str,
) -> Result<Vec<&'a str>, Error> {
    // SAFETY: per the contract.
    let items = unsafe { slice_arg(strings, len, name) }?;
    items
        .iter()
        .enumerate()
        // SAFETY: each element is NULL or a C string.
        .map(|(i, s)| unsafe { str_arg(*s, &format!("{name}[{i}]")) })
        .collect()
}

/// Borrows a `ptr, len` buffer argument (`ptr` may be NULL only when `len` is 0).
///
/// # Safety
/// `ptr` points to `len` readable, initialised values.
pub(crate) unsafe fn slice_arg<'a, T>(
    ptr: *const T,
    len: usize,
    name: &str,
) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null_arg(name));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable values.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks an out-parameter pointer.
pub(crate) fn out_arg<T>(p: *mut T, name: &str) -> Result<(), Error> {
    if p.is_null() {
        Err(null_arg(name))
    } else {
        Ok(())
    }
}

/// Writes `value` to an out-parameter checked by [`out_arg`].
///
/// # Safety
/// `out` is non-NULL, aligned and writable.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: per the contract.
    unsafe { out.write(value) }
}

/// A C string of `s`; a NUL byte inside (possible in stored texts) becomes U+FFFD.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| {
        CString::new(s.replace('\0', "\u{FFFD}")).expect("NUL bytes were replaced")
    })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal {
        message: format!("cannot encode JSON: {e}"),
    })
}

/// Parses a JSON argument into `T`.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    json: &str,
    name: &str,
) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| invalid_arg(&format!("{name}: {e}")))
}

pub(crate) fn null_arg(name: &str) -> Error {
    invalid_arg(&format!("{name} is NULL"))
}

pub(crate) fn invalid_arg(message: &str) -> Error {
    Error::InvalidArgument {
        message: message.to_string(),
    }
}

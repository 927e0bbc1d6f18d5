//! Runtime CPU-feature dispatch and vectorisable reductions, shared by the embedding kernels and
//! the vector index.
//!
//! Kernels are plain loops written so that the compiler vectorises them; [`dispatch!`] compiles a
//! kernel body three times (generic, AVX2+FMA, AVX-512) and picks one at run time, so no
//! `target-cpu=native` is needed and one binary runs on every x86-64 CPU.

/// The widest vector instruction set of this CPU that kernels are compiled for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Level {
    Generic,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// This CPU's level, detected once.
pub(crate) fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f")
                && has!("avx512vl")
                && has!("avx512dq")
                && has!("avx512bw")
                && has!("fma")
            {
                return Level::Avx512;
            }
            if has!("avx2") && has!("fma") {
                return Level::Avx2;
            }
        }
        Level::Generic
    })
}

/// Defines `$name`, running `$body` compiled for the best level this CPU has.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident, $avx:ident, $avx512:ident, ($($arg:ident : $ty:ty),*) $(-> $ret:ty)?, $body:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
        fn $avx512($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }

        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
            match crate::simd::level() {
                // SAFETY: the CPU supports the features each variant was compiled for.
                #[cfg(target_arch = "x86_64")]
                crate::simd::Level::Avx512 => unsafe { $avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                crate::simd::Level::Avx2 => unsafe { $avx($($arg),*) },
                crate::simd::Level::Generic => $body($($arg),*),
            }
        }
    };
}
pub(crate) use dispatch;

/// Lanes of the reductions: independent accumulators let the compiler vectorise a sum or a max
/// without reordering floating-point operations itself.
const LANES: usize = 16;

/// Sum of `f(x)` over `xs`, in `LANES` partial sums.
#[inline(always)]
pub(crate) fn sum_by(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += f(*x);
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|x| f(*x)).sum::<f32>()
}

/// Sum of `f(a_i, b_i)` over two slices of equal length, in `LANES` partial sums.
#[inline(always)]
pub(crate) fn sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += f(*x, *y);
        }
    }
    acc.iter().sum::<f32>() + ta.iter().zip(tb).map(|(x, y)| f(*x, *y)).sum::<f32>()
}

/// Sum of `f(a_i, b_i)` over two slices of 8-bit codes of equal length, in 32 partial `i32`
/// sums: the compiler turns a product of widened codes into pairwise multiply-adds (`vpmaddwd`),
/// 32 codes per instruction pair against 8 floats for an f32 kernel.
#[inline(always)]
pub(crate) fn sum_codes(a: &[i8], b: &[i8], f: impl Fn(i32, i32) -> i32) -> i32 {
    const CODE_LANES: usize = 32;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; CODE_LANES];
    let (ca, cb) = (a.chunks_exact(CODE_LANES), b.chunks_exact(CODE_LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += f(i32::from(*x), i32::from(*y));
        }
    }
    acc.iter().sum::<i32>()
        + ta.iter()
            .zip(tb)
            .map(|(x, y)| f(i32::from(*x), i32::from(*y)))
            .sum::<i32>()
}

/// Maximum of `xs` (negative infinity when empty).
#[inline(always)]
pub(crate) fn max_of(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a = a.max(*x);
        }
    }
    acc.iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_plain_loops() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((sum_pairs(&a, &b, |x, y| x * y) - dot).abs() < 1e-5);
        assert!((sum_by(&a, |x| x) - a.iter().sum::<f32>()).abs() < 1e-5);
        assert_eq!(
            max_of(&a),
            a.iter().copied().fold(f32::NEG_INFINITY, f32::max)
        );
        assert_eq!(max_of(&[]), f32::NEG_INFINITY);
        // Codes: 70 of them (two full blocks of 32 and a tail), at the ends of their range.
        let c: Vec<i8> = (0..70)
            .map(|i| if i % 3 == 0 { -127 } else { 127 - i })
            .collect();
        let d: Vec<i8> = (0..70).map(|i| (i * 37 % 255 - 127) as i8).collect();
        let plain: i32 = c
            .iter()
            .zip(&d)
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum();
        assert_eq!(sum_codes(&c, &d, |x, y| x * y), plain);
    }
}

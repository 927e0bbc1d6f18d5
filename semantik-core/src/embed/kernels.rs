//! Element-wise kernels of the forward pass: layer norm, GELU (erf form), softmax.
//!
//! Written as plain loops that the compiler vectorises, compiled three times: generically, with
//! AVX2+FMA and with AVX-512 enabled, chosen at run time (see `crate::simd`). `exp` and `erf`
//! are branch-free polynomial approximations (relative error about 1e-7) so that they vectorise
//! too.

use crate::simd::{max_of, sum_by};

/// `exp(x)` for f32, branch-free (Cephes-style range reduction and polynomial).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer in the low bits
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    // x - n*ln2, with ln2 split in two for accuracy.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n from the integer in t's low bits (integer ops only, so this vectorises; `as i32`
    // would not, being saturating).
    let bits = t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127) << 23;
    y * f32::from_bits(bits)
}

/// `erf(x)` (Abramowitz and Stegun 7.1.26: absolute error below 1.5e-7, below 5e-7 in f32).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

#[inline(always)]
fn gelu_body(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[inline(always)]
fn softmax_body(row: &mut [f32]) {
    let max = max_of(row);
    for x in row.iter_mut() {
        *x = exp(*x - max);
    }
    let inv = 1.0 / sum_by(row, |x| x);
    for x in row.iter_mut() {
        *x *= inv;
    }
}

#[inline(always)]
fn layer_norm_body(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum_by(row, |x| x) / n;
    let var = sum_by(row, |x| (x - mean) * (x - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *x = (*x - mean) * inv * g + b;
    }
}

#[inline(always)]
fn rms_norm_body(row: &mut [f32], weight: &[f32], eps: f32) {
    let n = row.len() as f32;
    let inv = 1.0 / (sum_by(row, |x| x * x) / n + eps).sqrt();
    for (x, w) in row.iter_mut().zip(weight) {
        *x = *x * inv * w;
    }
}

#[inline(always)]
fn gelu_tanh_body(xs: &mut [f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    for x in xs.iter_mut() {
        let u = C * (*x + 0.044_715 * *x * *x * *x);
        // tanh(u) = 1 - 2 / (exp(2u) + 1)
        let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
        *x = 0.5 * *x * (1.0 + t);
    }
}

#[inline(always)]
fn silu_body(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x /= 1.0 + exp(-*x);
    }
}

crate::simd::dispatch!(
    /// RMS norm of one row in place (`x / rms(x) * weight`).
    rms_norm, rms_norm_avx2, rms_norm_avx512, (row: &mut [f32], weight: &[f32], eps: f32), rms_norm_body
);
crate::simd::dispatch!(
    /// GELU (tanh approximation) in place.
    gelu_tanh, gelu_tanh_avx2, gelu_tanh_avx512, (xs: &mut [f32]), gelu_tanh_body
);
crate::simd::dispatch!(
    /// SiLU (`x * sigmoid(x)`) in place.
    silu, silu_avx2, silu_avx512, (xs: &mut [f32]), silu_body
);
crate::simd::dispatch!(
    /// GELU (erf form) in place.
    gelu, gelu_avx2, gelu_avx512, (xs: &mut [f32]), gelu_body
);
crate::simd::dispatch!(
    /// Softmax of one row in place.
    softmax, softmax_avx2, softmax_avx512, (row: &mut [f32]), softmax_body
);
crate::simd::dispatch!(
    /// Layer norm of one row in place.
    layer_norm, layer_norm_avx2, layer_norm_avx512, (row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32), layer_norm_body
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.02;
            let (e, r) = (exp(x), (x as f64).exp());
            assert!(
                ((e as f64 - r) / r).abs() < 3e-7,
                "exp({x}) = {e}, want {r}"
            );
        }
        for i in -600..=600 {
            let x = i as f64 * 0.01;
            let want = libm_erf(x);
            let got = erf(x as f32) as f64;
            // 1.5e-7 from the approximation, the rest from f32 rounding.
            assert!((got - want).abs() < 5e-7, "erf({x}) = {got}, want {want}");
        }
    }

    /// erf by its Taylor series (converges for |x| <= 6 in f64 with enough terms).
    fn libm_erf(x: f64) -> f64 {
        if x.abs() > 4.0 {
            return x.signum();
        }
        let mut sum = 0.0;
        let mut term = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 || n < 5.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut row = vec![1.0, 2.0, 3.0, -1000.0];
        softmax(&mut row);
        let want = [0.090_030_57, 0.244_728_48, 0.665_240_94, 0.0];
        for (a, b) in row.iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
        let mut row = vec![1.0, 2.0, 3.0, 4.0];
        layer_norm(&mut row, &[1.0; 4], &[0.5; 4], 1e-12);
        let mean: f32 = row.iter().sum::<f32>() / 4.0;
        assert!((mean - 0.5).abs() < 1e-6);
        let mut row = vec![1.0, -2.0, 3.0, -4.0];
        rms_norm(&mut row, &[2.0; 4], 0.0);
        let rms = (30.0f32 / 4.0).sqrt();
        for (a, b) in row.iter().zip([1.0, -2.0, 3.0, -4.0]) {
            assert!((a - 2.0 * b / rms).abs() < 1e-6);
        }
        let mut xs = vec![-3.0, -1.0, 0.0, 1.0, 3.0];
        gelu_tanh(&mut xs);
        let want = [-0.003_637_4, -0.158_808, 0.0, 0.841_192, 2.996_363];
        for (a, b) in xs.iter().zip(want) {
            assert!((a - b).abs() < 2e-6, "{a} vs {b}");
        }
        let mut xs = vec![-3.0, 0.0, 2.0];
        silu(&mut xs);
        let want = [-0.142_277_37, 0.0, 1.761_594_2];
        for (a, b) in xs.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let mut xs = vec![-3.0, -1.0, 0.0, 1.0, 3.0];
        gelu(&mut xs);
        let want = [-0.004_049_7, -0.158_655_25, 0.0, 0.841_344_8, 2.995_950_3];
        for (a, b) in xs.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}

//! Int8 products of the forward pass: weights quantized per output channel when the model is
//! loaded, each product's input quantized per row as it runs (dynamic quantization), 32-bit
//! integer accumulation, then scaled back to f32.
//!
//! Inputs become unsigned bytes (`q + 128`), as the CPU's byte dot products want them; the
//! offset is removed with each output's precomputed `128 * sum(weights)`. Weights are packed
//! in panels of 16 outputs, each holding for every group of 4 inputs the 4 bytes of each
//! output side by side, so that one 512-bit register holds a panel's group (one 256-bit
//! register half of it). The kernel is chosen at run time: AVX-512 VNNI (`vpdpbusd`: 64
//! multiply-adds per instruction), AVX2 (`vpmaddubsw` + `vpmaddwd`; its 16-bit pair sums
//! saturate past 32,767, so weights keep 7 bits there), or plain code.

use std::cell::RefCell;

/// Outputs per panel.
const PANEL: usize = 16;
/// Rows per block of the kernels.
const ROWS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Generic,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

fn kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
            return Kernel::Vnni;
        }
        if has!("avx2") {
            return Kernel::Avx2;
        }
    }
    Kernel::Generic
}

/// A weight matrix in int8, packed for the kernels.
#[derive(Debug)]
pub(crate) struct QuantMatrix {
    inputs: usize,
    outputs: usize,
    /// Inputs rounded up to a multiple of 4.
    k4: usize,
    packed: Vec<i8>,
    /// Per output (padded to whole panels): the weight scale, and `128 * sum(q)`.
    scales: Vec<f32>,
    offsets: Vec<i32>,
    kernel: Kernel,
}

impl QuantMatrix {
    /// Quantizes PyTorch's `outputs x inputs` weight, row-major.
    pub(crate) fn from_torch(w: &[f32], outputs: usize, inputs: usize) -> QuantMatrix {
        let kernel = kernel();
        #[cfg(target_arch = "x86_64")]
        let qmax = if kernel == Kernel::Avx2 { 63.0 } else { 127.0 };
        #[cfg(not(target_arch = "x86_64"))]
        let qmax = 127.0;
        let k4 = inputs.div_ceil(4) * 4;
        let panels = outputs.div_ceil(PANEL);
        let mut packed = vec![0i8; panels * k4 * PANEL];
        let mut scales = vec![0.0f32; panels * PANEL];
        let mut offsets = vec![0i32; panels * PANEL];
        for o in 0..outputs {
            let row = &w[o * inputs..(o + 1) * inputs];
            let amax = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let scale = if amax > 0.0 { amax / qmax } else { 1.0 };
            scales[o] = scale;
            let (panel, lane) = (o / PANEL, o % PANEL);
            let mut sum = 0i32;
            for (k, x) in row.iter().enumerate() {
                let q = (x / scale).round().clamp(-qmax, qmax) as i8;
                sum += i32::from(q);
                let (group, within) = (k / 4, k % 4);
                packed[panel * k4 * PANEL + group * 4 * PANEL + lane * 4 + within] = q;
            }
            offsets[o] = 128 * sum;
        }
        QuantMatrix {
            inputs,
            outputs,
            k4,
            packed,
            scales,
            offsets,
            kernel,
        }
    }

    /// Bytes the weights take.
    pub(crate) fn bytes(&self) -> usize {
        self.packed.len() + 8 * self.scales.len()
    }

    /// `out (n x outputs) += x (n x inputs, rows `x_rs` apart) * W`.
    pub(crate) fn matmul_acc(&self, x: &[f32], x_rs: usize, n: usize, out: &mut [f32]) {
        QUANTIZED.with(|q| {
            let mut q = q.borrow_mut();
            let (bytes, row_scales) = &mut *q;
            quantize_rows(x, x_rs, n, self.inputs, self.k4, bytes, row_scales);
            let panels = self.outputs.div_ceil(PANEL);
            let mut acc = [[0i32; 2 * PANEL]; ROWS];
            for r0 in (0..n).step_by(ROWS) {
                let rows = ROWS.min(n - r0);
                let a = &bytes[r0 * self.k4..];
                for p0 in (0..panels).step_by(2) {
                    let np = 2.min(panels - p0);
                    let w = &self.packed[p0 * self.k4 * PANEL..];
                    self.block(a, w, rows, np, &mut acc);
                    // Back to f32, into the destination.
                    for (r, acc_row) in acc.iter().enumerate().take(rows) {
                        let sa = row_scales[r0 + r];
                        let dst = &mut out[(r0 + r) * self.outputs..(r0 + r + 1) * self.outputs];
                        let o0 = p0 * PANEL;
                        let width = (np * PANEL).min(self.outputs - o0);
                        for (j, d) in dst[o0..o0 + width].iter_mut().enumerate() {
                            let o = o0 + j;
                            *d += (acc_row[j] - self.offsets[o]) as f32 * sa * self.scales[o];
                        }
                    }
                }
            }
        });
    }

    /// Integer products of `rows` input rows (`a`, `k4` bytes apart) with `np` panels (`w`).
    fn block(
        &self,
        a: &[u8],
        w: &[i8],
        rows: usize,
        np: usize,
        acc: &mut [[i32; 2 * PANEL]; ROWS],
    ) {
        let k4 = self.k4;
        assert!(a.len() >= (rows - 1) * k4 + k4 && w.len() >= np * k4 * PANEL);
        match self.kernel {
            // SAFETY: the CPU has the features (checked by `kernel`), and the slices hold the
            // rows and panels the kernels read (asserted above).
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe { x86::block_vnni(a, w, k4, rows, np, acc) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::block_avx2(a, w, k4, rows, np, acc) },
            Kernel::Generic => block_generic(a, w, k4, rows, np, acc),
        }
    }
}

thread_local! {
    /// Each thread's quantized input rows and their scales.
    static QUANTIZED: RefCell<(Vec<u8>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Quantizes `n` rows of `inputs` values (rows `x_rs` apart) to unsigned bytes `q + 128`,
/// rows padded to `k4` with 128 (zero); returns them with each row's scale.
fn quantize_rows(
    x: &[f32],
    x_rs: usize,
    n: usize,
    inputs: usize,
    k4: usize,
    bytes: &mut Vec<u8>,
    scales: &mut Vec<f32>,
) {
    bytes.clear();
    bytes.resize(n * k4, 128);
    scales.clear();
    for r in 0..n {
        let row = &x[r * x_rs..r * x_rs + inputs];
        let amax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        let inv = 1.0 / scale;
        for (b, v) in bytes[r * k4..r * k4 + inputs].iter_mut().zip(row) {
            *b = ((v * inv).round().clamp(-127.0, 127.0) as i32 + 128) as u8;
        }
        scales.push(scale);
    }
}

fn block_generic(
    a: &[u8],
    w: &[i8],
    k4: usize,
    rows: usize,
    np: usize,
    acc: &mut [[i32; 2 * PANEL]; ROWS],
) {
    for (r, acc_row) in acc.iter_mut().enumerate().take(rows) {
        acc_row.fill(0);
        let row = &a[r * k4..(r + 1) * k4];
        for p in 0..np {
            let panel = &w[p * k4 * PANEL..(p + 1) * k4 * PANEL];
            for (g, quad) in row.chunks_exact(4).enumerate() {
                let block = &panel[g * 4 * PANEL..(g + 1) * 4 * PANEL];
                for lane in 0..PANEL {
                    let ws = &block[lane * 4..lane * 4 + 4];
                    acc_row[p * PANEL + lane] += (0..4)
                        .map(|i| i32::from(quad[i]) * i32::from(ws[i]))
                        .sum::<i32>();
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PANEL, ROWS};

    /// The 4 input bytes of group `g` of row `r`, as one 32-bit value.
    #[inline(always)]
    unsafe fn quad(a: &[u8], k4: usize, r: usize, g: usize) -> i32 {
        // SAFETY: the caller's rows hold `k4` bytes each.
        unsafe { (a.as_ptr().add(r * k4 + 4 * g) as *const i32).read_unaligned() }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn block_vnni(
        a: &[u8],
        w: &[i8],
        k4: usize,
        rows: usize,
        np: usize,
        acc: &mut [[i32; 2 * PANEL]; ROWS],
    ) {
        let groups = k4 / 4;
        let mut s = [[_mm512_setzero_si512(); 2]; ROWS];
        let w0 = w.as_ptr();
        // SAFETY (whole body): reads stay within `a` (rows x k4) and `w` (np panels of
        // k4 x 16 bytes), as the caller asserted.
        unsafe {
            let w1 = w0.add(k4 * PANEL);
            for g in 0..groups {
                let b0 = _mm512_loadu_si512(w0.add(g * 64) as *const _);
                let b1 = if np == 2 {
                    _mm512_loadu_si512(w1.add(g * 64) as *const _)
                } else {
                    _mm512_setzero_si512()
                };
                for (r, sr) in s.iter_mut().enumerate().take(rows) {
                    let x = _mm512_set1_epi32(quad(a, k4, r, g));
                    sr[0] = _mm512_dpbusd_epi32(sr[0], x, b0);
                    sr[1] = _mm512_dpbusd_epi32(sr[1], x, b1);
                }
            }
            for r in 0..rows {
                _mm512_storeu_si512(acc[r].as_mut_ptr() as *mut _, s[r][0]);
                _mm512_storeu_si512(acc[r].as_mut_ptr().add(PANEL) as *mut _, s[r][1]);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block_avx2(
        a: &[u8],
        w: &[i8],
        k4: usize,
        rows: usize,
        np: usize,
        acc: &mut [[i32; 2 * PANEL]; ROWS],
    ) {
        let groups = k4 / 4;
        let ones = _mm256_set1_epi16(1);
        // SAFETY (whole body): as in `block_vnni`.
        unsafe {
            for p in 0..np {
                let wp = w.as_ptr().add(p * k4 * PANEL);
                let mut s = [[_mm256_setzero_si256(); 2]; ROWS];
                for g in 0..groups {
                    let lo = _mm256_loadu_si256(wp.add(g * 64) as *const _);
                    let hi = _mm256_loadu_si256(wp.add(g * 64 + 32) as *const _);
                    for (r, sr) in s.iter_mut().enumerate().take(rows) {
                        let x = _mm256_set1_epi32(quad(a, k4, r, g));
                        let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(x, lo), ones);
                        let ph = _mm256_madd_epi16(_mm256_maddubs_epi16(x, hi), ones);
                        sr[0] = _mm256_add_epi32(sr[0], pl);
                        sr[1] = _mm256_add_epi32(sr[1], ph);
                    }
                }
                for r in 0..rows {
                    let dst = acc[r].as_mut_ptr().add(p * PANEL);
                    _mm256_storeu_si256(dst as *mut _, s[r][0]);
                    _mm256_storeu_si256(dst.add(8) as *mut _, s[r][1]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU has agrees exactly with the plain one, and the product is close
    /// to the f32 product.
    #[test]
    fn int8_products_match_the_f32_product() {
        let (outputs, inputs, n) = (37, 70, 9);
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let w: Vec<f32> = (0..outputs * inputs).map(|_| rnd()).collect();
        let x: Vec<f32> = (0..n * inputs).map(|_| rnd() * 3.0).collect();
        let q = QuantMatrix::from_torch(&w, outputs, inputs);
        let mut out = vec![0.5f32; n * outputs];
        q.matmul_acc(&x, inputs, n, &mut out);
        for r in 0..n {
            for o in 0..outputs {
                let exact: f32 = 0.5
                    + (0..inputs)
                        .map(|k| x[r * inputs + k] * w[o * inputs + k])
                        .sum::<f32>();
                let got = out[r * outputs + o];
                assert!(
                    (got - exact).abs() < 0.05 * (1.0 + exact.abs()),
                    "{got} vs {exact}"
                );
            }
        }
        // The plain kernel gives the same integers as the one in use.
        let generic = QuantMatrix {
            kernel: Kernel::Generic,
            packed: q.packed.clone(),
            scales: q.scales.clone(),
            offsets: q.offsets.clone(),
            ..q
        };
        let mut plain = vec![0.5f32; n * outputs];
        generic.matmul_acc(&x, inputs, n, &mut plain);
        let q2 = QuantMatrix::from_torch(&w, outputs, inputs);
        let mut again = vec![0.5f32; n * outputs];
        q2.matmul_acc(&x, inputs, n, &mut again);
        assert_eq!(plain, again);
    }
}

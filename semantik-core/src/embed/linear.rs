//! Dense layers of the forward pass and the matrix product they run on.
//!
//! Weights are stored transposed (`inputs x outputs`, row-major) so that a layer's product
//! reads its input rows and writes its output rows contiguously. The product accumulates into
//! its destination, which the caller pre-fills with the bias and, where it folds one in, the
//! residual.

use half::slice::HalfFloatSliceExt;

use super::Precision;
use super::quant::QuantMatrix;

/// `dst (m x n) = beta * lhs (m x k) * rhs (k x n) (+ dst when `read_dst`)`, all row-major
/// with the given row strides (`rhs_cs` the column stride of `rhs`, so a transposed operand
/// is read through swapped strides).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_acc(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_rs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
    beta: f32,
    read_dst: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= (m - 1) * dst_rs + n);
    assert!(k == 0 || lhs.len() >= (m - 1) * lhs_rs + k);
    assert!(k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the slices cover every element the strides reach (checked above), and dst does
    // not alias lhs or rhs (it is a distinct &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            read_dst,
            lhs.as_ptr(),
            1,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A layer's weights at the model's precision.
#[derive(Debug)]
enum Weight {
    /// `inputs x outputs`, row-major.
    F32(Vec<f32>),
    /// The same in f16, widened to f32 for each product.
    F16(Vec<half::f16>),
    Int8(QuantMatrix),
}

/// A dense layer: `y = x * W + b`.
#[derive(Debug)]
pub(crate) struct Linear {
    w: Weight,
    pub(crate) bias: Option<Vec<f32>>,
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
}

thread_local! {
    /// Each thread's f32 copy of an f16 weight, for one product.
    static WIDENED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Linear {
    /// From PyTorch's `outputs x inputs` weight (row-major) and an optional bias, kept at
    /// `precision`.
    pub(crate) fn from_torch(
        weight: &[f32],
        outputs: usize,
        inputs: usize,
        bias: Option<Vec<f32>>,
        precision: Precision,
    ) -> Self {
        debug_assert_eq!(weight.len(), outputs * inputs);
        let transposed = || {
            let mut w = vec![0.0; inputs * outputs];
            for o in 0..outputs {
                for i in 0..inputs {
                    w[i * outputs + o] = weight[o * inputs + i];
                }
            }
            w
        };
        let w = match precision {
            Precision::Float32 => Weight::F32(transposed()),
            Precision::Float16 => {
                Weight::F16(transposed().into_iter().map(half::f16::from_f32).collect())
            }
            Precision::Int8 => Weight::Int8(QuantMatrix::from_torch(weight, outputs, inputs)),
        };
        Linear {
            w,
            bias,
            inputs,
            outputs,
        }
    }

    /// Writes the bias (zeros without one) into each of the `n` rows of `out`.
    pub(crate) fn fill_bias(&self, out: &mut [f32], n: usize) {
        for row in out[..n * self.outputs].chunks_exact_mut(self.outputs) {
            match &self.bias {
                Some(b) => row.copy_from_slice(b),
                None => row.fill(0.0),
            }
        }
    }

    /// Adds the bias (if any) to each of the `n` rows of `out`.
    pub(crate) fn add_bias(&self, out: &mut [f32], n: usize) {
        if let Some(b) = &self.bias {
            for row in out[..n * self.outputs].chunks_exact_mut(self.outputs) {
                row.iter_mut().zip(b).for_each(|(o, b)| *o += b);
            }
        }
    }

    /// `out (n x outputs) += x (n x inputs) * W`.
    pub(crate) fn forward_acc(&self, x: &[f32], n: usize, out: &mut [f32]) {
        self.forward_acc_rs(x, self.inputs, n, out);
    }

    /// As [`Linear::forward_acc`], the rows of `x` `x_rs` apart (its first `inputs` columns
    /// are read).
    pub(crate) fn forward_acc_rs(&self, x: &[f32], x_rs: usize, n: usize, out: &mut [f32]) {
        let f32_product = |w: &[f32], out: &mut [f32]| {
            matmul_acc(
                n,
                self.outputs,
                self.inputs,
                out,
                self.outputs,
                x,
                x_rs,
                w,
                self.outputs,
                1,
                1.0,
                true,
            )
        };
        match &self.w {
            Weight::F32(w) => f32_product(w, out),
            Weight::F16(w) => WIDENED.with(|buf| {
                let mut buf = buf.borrow_mut();
                buf.resize(w.len(), 0.0);
                w.convert_to_f32_slice(&mut buf);
                f32_product(&buf, out);
            }),
            Weight::Int8(q) => q.matmul_acc(x, x_rs, n, out),
        }
    }

    /// `out = x * W + b`.
    pub(crate) fn forward(&self, x: &[f32], n: usize, out: &mut [f32]) {
        self.fill_bias(out, n);
        self.forward_acc(x, n, out);
    }

    /// Bytes its weights take.
    pub(crate) fn weight_bytes(&self) -> usize {
        match &self.w {
            Weight::F32(w) => w.len() * 4,
            Weight::F16(w) => w.len() * 2,
            Weight::Int8(q) => q.bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_a_direct_product() {
        // torch weight 3 x 2 (outputs x inputs)
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let l = Linear::from_torch(&w, 3, 2, Some(vec![0.5, -0.5, 1.0]), Precision::Float32);
        let x = [1.0, -1.0, 2.0, 0.5];
        let mut out = vec![0.0; 6];
        l.forward(&x, 2, &mut out);
        let want = [
            1.0 - 2.0 + 0.5,
            3.0 - 4.0 - 0.5,
            5.0 - 6.0 + 1.0,
            2.0 + 1.0 + 0.5,
            6.0 + 2.0 - 0.5,
            10.0 + 3.0 + 1.0,
        ];
        assert_eq!(out, want);
    }
}

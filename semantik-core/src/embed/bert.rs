//! A BERT encoder forward pass of our own, on the CPU.
//!
//! candle loads the safetensors weights; the matrix products call the `gemm` crate (the one
//! candle's CPU backend uses) directly. One sequence is processed at a time without padding
//! or mask, so a batch is spread over cores by running sequences in parallel. Bias and
//! residual are folded into the products (the destination is pre-filled and accumulated
//! into), attention reads Q, K and V straight from one fused buffer through strides, and every
//! intermediate lives in a per-thread scratch buffer that is reused.

use std::cell::RefCell;
use std::path::Path;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use serde::Deserialize;

use super::kernels::{gelu, layer_norm, softmax};
use crate::error::{Error, Result};

/// The `config.json` fields a BERT encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    #[serde(default)]
    pub(crate) model_type: Option<String>,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_eps: f64,
    #[serde(default)]
    pub(crate) hidden_act: Option<String>,
    #[serde(default)]
    pub(crate) position_embedding_type: Option<String>,
}

fn default_eps() -> f64 {
    1e-12
}

/// A dense layer stored transposed: `w` is `in x out`, row-major.
#[derive(Debug)]
struct Linear {
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

#[derive(Debug)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

#[derive(Debug)]
struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    inter: Linear,
    out: Linear,
    out_norm: Norm,
}

/// The weights of a BERT encoder and the code that runs it.
#[derive(Debug)]
pub(crate) struct BertModel {
    config: BertConfig,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
    eps: f32,
}

/// Reads tensors by name, with or without a `bert.` prefix, as f32.
struct Weights {
    st: MmapedSafetensors,
    prefix: &'static str,
    path: String,
}

impl Weights {
    fn open(path: &Path) -> Result<Self> {
        // SAFETY: the file is mapped read-only; semantik never writes model files, and a model
        // directory changed under a running process is outside the supported use.
        let st = unsafe { MmapedSafetensors::new(path) }.map_err(|e| Error::Model {
            name: path.display().to_string(),
            message: format!("cannot read safetensors: {e}"),
        })?;
        let has = |n: &str| st.get(n).is_ok();
        let prefix = if has("embeddings.word_embeddings.weight") {
            ""
        } else if has("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            return Err(Error::Model {
                name: path.display().to_string(),
                message: "not a BERT checkpoint: embeddings.word_embeddings.weight is missing"
                    .into(),
            });
        };
        Ok(Weights {
            st,
            prefix,
            path: path.display().to_string(),
        })
    }

    fn err(&self, message: String) -> Error {
        Error::Model {
            name: self.path.clone(),
            message,
        }
    }

    /// Tensor `name` (trying `alt` too, for older LayerNorm names) as f32, with its shape.
    fn get(&self, name: &str, alt: Option<&str>) -> Result<(Vec<f32>, Vec<usize>)> {
        let full = format!("{}{name}", self.prefix);
        let t = match self.st.load(&full, &Device::Cpu) {
            Ok(t) => t,
            Err(_) => match alt {
                Some(a) => self
                    .st
                    .load(&format!("{}{a}", self.prefix), &Device::Cpu)
                    .map_err(|_| self.err(format!("missing tensor {full}")))?,
                None => return Err(self.err(format!("missing tensor {full}"))),
            },
        };
        if !matches!(
            t.dtype(),
            DType::F32 | DType::F16 | DType::BF16 | DType::F64
        ) {
            return Err(self.err(format!(
                "tensor {full} has dtype {:?}; a float type is required",
                t.dtype()
            )));
        }
        let shape = t.dims().to_vec();
        let v = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| self.err(format!("tensor {full}: {e}")))?;
        Ok((v, shape))
    }

    fn expect(&self, name: &str, shape: &[usize], alt: Option<&str>) -> Result<Vec<f32>> {
        let (v, got) = self.get(name, alt)?;
        if got != shape {
            return Err(self.err(format!(
                "tensor {name} has shape {got:?}, expected {shape:?}"
            )));
        }
        Ok(v)
    }

    fn norm(&self, base: &str, h: usize) -> Result<Norm> {
        Ok(Norm {
            gamma: self.expect(
                &format!("{base}.weight"),
                &[h],
                Some(&format!("{base}.gamma")),
            )?,
            beta: self.expect(&format!("{base}.bias"), &[h], Some(&format!("{base}.beta")))?,
        })
    }

    /// Loads `out x in` PyTorch weights (several, concatenated along `out`) transposed.
    fn linear(&self, bases: &[String], inputs: usize, outputs: usize) -> Result<Linear> {
        let total: usize = outputs * bases.len();
        let mut w = vec![0.0; inputs * total];
        let mut b = Vec::with_capacity(total);
        for (part, base) in bases.iter().enumerate() {
            let wt = self.expect(&format!("{base}.weight"), &[outputs, inputs], None)?;
            for o in 0..outputs {
                for i in 0..inputs {
                    w[i * total + part * outputs + o] = wt[o * inputs + i];
                }
            }
            b.extend(self.expect(&format!("{base}.bias"), &[outputs], None)?);
        }
        Ok(Linear {
            w,
            b,
            inputs,
            outputs: total,
        })
    }
}

/// Per-thread buffers, grown as needed and reused across sequences.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    scores: Vec<f32>,
    ctx: Vec<f32>,
    attn: Vec<f32>,
    inter: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn ensure(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

/// `dst (m x n) += lhs (m x k) * rhs (k x n)`, all row-major with the given row strides.
#[allow(clippy::too_many_arguments)]
fn matmul_acc(
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
    alpha: f32,
    beta: f32,
    read_dst: bool,
) {
    debug_assert!(m == 0 || dst.len() >= (m - 1) * dst_rs + n);
    debug_assert!(m == 0 || lhs.len() >= (m - 1) * lhs_rs + k);
    // SAFETY: the slices cover every element the strides reach (checked above in debug
    // builds, guaranteed by the callers' buffer sizes), and dst does not alias lhs or rhs.
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
            alpha,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `out (n x outputs) = base + x (n x inputs) * layer`, where `base` is already in `out`.
fn linear_acc(layer: &Linear, x: &[f32], n: usize, out: &mut [f32]) {
    matmul_acc(
        n,
        layer.outputs,
        layer.inputs,
        out,
        layer.outputs,
        x,
        layer.inputs,
        &layer.w,
        layer.outputs,
        1,
        1.0,
        1.0,
        true,
    );
}

fn fill_rows(out: &mut [f32], n: usize, row: &[f32]) {
    for r in out[..n * row.len()].chunks_exact_mut(row.len()) {
        r.copy_from_slice(row);
    }
}

impl BertModel {
    /// Loads `model.safetensors` and `config.json` from `dir`.
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let name = dir.display().to_string();
        let model_err = |message: String| Error::Model {
            name: name.clone(),
            message,
        };
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| model_err(format!("cannot read config.json: {e}")))?;
        let config: BertConfig = serde_json::from_str(&config_text)
            .map_err(|e| model_err(format!("config.json: {e}")))?;
        if config.model_type.as_deref().is_some_and(|t| t != "bert") {
            return Err(model_err(format!(
                "unsupported architecture {:?}: only BERT encoders are supported",
                config.model_type.as_deref().unwrap_or("")
            )));
        }
        if config.hidden_act.as_deref().is_some_and(|a| a != "gelu") {
            return Err(model_err(format!(
                "unsupported activation {:?}",
                config.hidden_act
            )));
        }
        if config
            .position_embedding_type
            .as_deref()
            .is_some_and(|p| p != "absolute")
        {
            return Err(model_err(
                "only absolute position embeddings are supported".into(),
            ));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(model_err(
                "hidden_size must be a multiple of num_attention_heads".into(),
            ));
        }
        let weights_path = dir.join("model.safetensors");
        if !weights_path.is_file() {
            let hint = if dir.join("pytorch_model.bin").exists() {
                " (only pytorch_model.bin is present: semantik loads safetensors only, never pickle files)"
            } else {
                ""
            };
            return Err(model_err(format!("model.safetensors is missing{hint}")));
        }
        let w = Weights::open(&weights_path)?;
        let h = config.hidden_size;
        let (word, word_shape) = w.get("embeddings.word_embeddings.weight", None)?;
        if word_shape.len() != 2 || word_shape[1] != h {
            return Err(model_err(format!(
                "word embeddings have shape {word_shape:?}"
            )));
        }
        let position = w.expect(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
            None,
        )?;
        let (token_type, tt_shape) = w.get("embeddings.token_type_embeddings.weight", None)?;
        if tt_shape.len() != 2 || tt_shape[0] == 0 || tt_shape[1] != h {
            return Err(model_err(format!(
                "token type embeddings have shape {tt_shape:?}"
            )));
        }
        let emb_norm = w.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                qkv: w.linear(
                    &[
                        format!("{p}.attention.self.query"),
                        format!("{p}.attention.self.key"),
                        format!("{p}.attention.self.value"),
                    ],
                    h,
                    h,
                )?,
                attn_out: w.linear(&[format!("{p}.attention.output.dense")], h, h)?,
                attn_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                inter: w.linear(
                    &[format!("{p}.intermediate.dense")],
                    h,
                    config.intermediate_size,
                )?,
                out: w.linear(&[format!("{p}.output.dense")], config.intermediate_size, h)?,
                out_norm: w.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(BertModel {
            eps: config.layer_norm_eps as f32,
            config,
            word,
            position,
            token_type,
            emb_norm,
            layers,
        })
    }

    pub(crate) fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.word.len() / self.config.hidden_size
    }

    pub(crate) fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Runs the encoder on one sequence and hands its last hidden states (`ids.len() x
    /// hidden`, row-major) to `f`.
    pub(crate) fn forward<R>(&self, ids: &[u32], f: impl FnOnce(&[f32]) -> R) -> R {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let s = &mut *s;
            let n = ids.len();
            let h = self.config.hidden_size;
            let heads = self.config.num_attention_heads;
            let dh = h / heads;
            let inter = self.config.intermediate_size;
            ensure(&mut s.x, n * h);
            ensure(&mut s.qkv, n * 3 * h);
            ensure(&mut s.scores, n * n);
            ensure(&mut s.ctx, n * h);
            ensure(&mut s.attn, n * h);
            ensure(&mut s.inter, n * inter);

            // Embeddings: word + position + token type 0, then layer norm.
            for (t, &id) in ids.iter().enumerate() {
                let row = &mut s.x[t * h..(t + 1) * h];
                let word = &self.word[id as usize * h..(id as usize + 1) * h];
                let pos = &self.position[t * h..(t + 1) * h];
                for (((x, w), p), tt) in
                    row.iter_mut().zip(word).zip(pos).zip(&self.token_type[..h])
                {
                    *x = w + p + tt;
                }
                layer_norm(row, &self.emb_norm.gamma, &self.emb_norm.beta, self.eps);
            }

            let scale = 1.0 / (dh as f32).sqrt();
            for layer in &self.layers {
                // Q, K and V in one product: qkv = x * Wqkv + b.
                fill_rows(&mut s.qkv, n, &layer.qkv.b);
                linear_acc(&layer.qkv, &s.x, n, &mut s.qkv);
                // Attention per head, reading Q, K, V through strides.
                for head in 0..heads {
                    let q = &s.qkv[head * dh..];
                    let k = &s.qkv[h + head * dh..];
                    let v = &s.qkv[2 * h + head * dh..];
                    // scores = scale * Q K^T (K^T via swapped strides).
                    matmul_acc(
                        n,
                        n,
                        dh,
                        &mut s.scores,
                        n,
                        q,
                        3 * h,
                        k,
                        1,
                        3 * h,
                        0.0,
                        scale,
                        false,
                    );
                    for row in s.scores[..n * n].chunks_exact_mut(n) {
                        softmax(row);
                    }
                    // ctx[:, head] = scores V.
                    matmul_acc(
                        n,
                        dh,
                        n,
                        &mut s.ctx[head * dh..],
                        h,
                        &s.scores,
                        n,
                        v,
                        3 * h,
                        1,
                        0.0,
                        1.0,
                        false,
                    );
                }
                // attn = LN(x + bo + ctx * Wo).
                for (a, xr) in s.attn[..n * h].chunks_exact_mut(h).zip(s.x.chunks_exact(h)) {
                    for ((a, x), b) in a.iter_mut().zip(xr).zip(&layer.attn_out.b) {
                        *a = x + b;
                    }
                }
                linear_acc(&layer.attn_out, &s.ctx, n, &mut s.attn);
                for row in s.attn[..n * h].chunks_exact_mut(h) {
                    layer_norm(row, &layer.attn_norm.gamma, &layer.attn_norm.beta, self.eps);
                }
                // inter = GELU(attn * Wi + bi).
                fill_rows(&mut s.inter, n, &layer.inter.b);
                linear_acc(&layer.inter, &s.attn, n, &mut s.inter);
                gelu(&mut s.inter[..n * inter]);
                // x = LN(attn + bo2 + inter * Wo2).
                for (xr, a) in s.x[..n * h].chunks_exact_mut(h).zip(s.attn.chunks_exact(h)) {
                    for ((x, a), b) in xr.iter_mut().zip(a).zip(&layer.out.b) {
                        *x = a + b;
                    }
                }
                linear_acc(&layer.out, &s.inter, n, &mut s.x);
                for row in s.x[..n * h].chunks_exact_mut(h) {
                    layer_norm(row, &layer.out_norm.gamma, &layer.out_norm.beta, self.eps);
                }
            }
            f(&s.x[..n * h])
        })
    }
}

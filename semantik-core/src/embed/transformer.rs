//! The transformer forward pass of our own, on the CPU, for every encoder family semantik
//! loads: BERT, RoBERTa / XLM-RoBERTa, MPNet, NomicBert, GTE ("NewModel"), ModernBERT and
//! the Qwen3 (and Qwen2) decoders used as embedders.
//!
//! The families differ in a few choices, read from `config.json` into an [`Arch`]: absolute
//! position embeddings (with RoBERTa's offset), rotary embeddings or T5-style relative
//! position buckets (MPNet); post-norm (BERT) or pre-norm with a final norm (ModernBERT,
//! Qwen3); LayerNorm (with or without bias) or RMSNorm; a plain or a gated MLP; full, causal
//! (Qwen3) or sliding-window (ModernBERT's local layers) attention, grouped key/value heads
//! and per-head query/key norms (Qwen3). Weight names are mapped per family, accepting both
//! the Hub's original checkpoints and what `transformers` writes.
//!
//! One sequence runs at a time without padding or mask, so a batch is spread over cores by
//! running sequences in parallel. Q, K and V come from one fused product and attention reads
//! them through strides; bias and residual are folded into the products; every intermediate
//! lives in a per-thread scratch buffer that is reused.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use serde_json::Value;

use super::Precision;
use super::kernels::{gelu, gelu_tanh, layer_norm, rms_norm, silu, softmax};
use super::linear::{Linear, matmul_acc};
use crate::error::{Error, Result};

/// Upper bounds on a config's sizes: a larger value is refused before anything is allocated.
const MAX_HIDDEN: usize = 1 << 16;
const MAX_LAYERS: usize = 512;
const MAX_VOCAB: usize = 1 << 24;
const MAX_POSITIONS: usize = 1 << 21;

/// The architecture families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Bert,
    Roberta,
    MpNet,
    Nomic,
    Gte,
    ModernBert,
    Qwen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Gelu,
    GeluTanh,
    Relu,
    Silu,
}

impl Act {
    fn parse(name: &str) -> Option<Act> {
        Some(match name {
            "gelu" | "gelu_python" => Act::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "gelu_approx" => Act::GeluTanh,
            "relu" => Act::Relu,
            "silu" | "swish" | "swiglu" => Act::Silu,
            _ => return None,
        })
    }

    fn apply(self, xs: &mut [f32]) {
        match self {
            Act::Gelu => gelu(xs),
            Act::GeluTanh => gelu_tanh(xs),
            Act::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
            Act::Silu => silu(xs),
        }
    }
}

/// How tokens learn their position.
#[derive(Debug, Clone, PartialEq)]
enum Positions {
    /// A learned table, read from row `offset + t`.
    Absolute { offset: usize },
    /// Rotary embeddings of the whole head, rotating halves.
    Rotary,
}

/// What `config.json` says, as far as the forward pass is concerned.
#[derive(Debug, Clone)]
pub(crate) struct Arch {
    pub(crate) family: Family,
    pub(crate) hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    intermediate: usize,
    /// The vocabulary `config.json` declares (the embedding table may be larger).
    pub(crate) vocab: Option<usize>,
    pub(crate) max_positions: usize,
    eps: f32,
    act: Act,
    positions: Positions,
    /// Rotary base of global layers, and of local (sliding-window) layers.
    rope_theta: f64,
    local_rope_theta: f64,
    /// ModernBERT: every n-th layer attends globally, the others within `window` either side.
    global_every: usize,
    window: usize,
    causal: bool,
}

/// Reads `config.json` values by any of their names.
struct Cfg<'a> {
    v: &'a Value,
    name: &'a str,
}

impl Cfg<'_> {
    fn raw(&self, keys: &[&str]) -> Option<&Value> {
        keys.iter().map(|k| &self.v[*k]).find(|v| !v.is_null())
    }
    fn usize(&self, keys: &[&str]) -> Option<usize> {
        self.raw(keys).and_then(Value::as_u64).map(|v| v as usize)
    }
    fn need(&self, keys: &[&str], max: usize) -> Result<usize> {
        let v = self
            .usize(keys)
            .ok_or_else(|| model_err(self.name, format!("config.json has no {}", keys[0])))?;
        if v == 0 || v > max {
            return Err(model_err(
                self.name,
                format!(
                    "config.json: {} = {v} is out of range (1 to {max})",
                    keys[0]
                ),
            ));
        }
        Ok(v)
    }
    fn f64(&self, keys: &[&str]) -> Option<f64> {
        self.raw(keys).and_then(Value::as_f64)
    }
    fn str(&self, keys: &[&str]) -> Option<&str> {
        self.raw(keys).and_then(Value::as_str)
    }
    fn bool(&self, keys: &[&str]) -> Option<bool> {
        self.raw(keys).and_then(Value::as_bool)
    }
}

fn model_err(name: &str, message: String) -> Error {
    Error::Model {
        name: name.to_string(),
        message,
    }
}

impl Arch {
    /// Reads the architecture of `config` (the parsed `config.json` of model `name`).
    pub(crate) fn from_config(name: &str, config: &Value) -> Result<Arch> {
        let c = Cfg { v: config, name };
        let family = match c.str(&["model_type"]).unwrap_or("bert") {
            "bert" => Family::Bert,
            "roberta" | "xlm-roberta" | "xlm_roberta" | "camembert" => Family::Roberta,
            "mpnet" => Family::MpNet,
            "nomic_bert" => Family::Nomic,
            "new" | "gte" => Family::Gte,
            "modernbert" => Family::ModernBert,
            "qwen3" | "qwen2" => Family::Qwen,
            other => {
                return Err(model_err(
                    name,
                    format!(
                        "unsupported architecture {other:?}: semantik runs bert, roberta, \
                         xlm-roberta, mpnet, nomic_bert, new/gte, modernbert, qwen2 and qwen3 \
                         encoders and static embeddings"
                    ),
                ));
            }
        };
        let hidden = c.need(&["hidden_size", "n_embd", "d_model"], MAX_HIDDEN)?;
        let layers = c.need(&["num_hidden_layers", "n_layer"], MAX_LAYERS)?;
        let heads = c.need(&["num_attention_heads", "n_head"], MAX_HIDDEN)?;
        let kv_heads = c
            .usize(&["num_key_value_heads"])
            .unwrap_or(heads)
            .clamp(1, heads);
        if !heads.is_multiple_of(kv_heads) {
            return Err(model_err(
                name,
                "num_attention_heads must be a multiple of num_key_value_heads".into(),
            ));
        }
        let head_dim = match c.usize(&["head_dim"]) {
            Some(d) if d > 0 && d <= MAX_HIDDEN => d,
            _ if hidden.is_multiple_of(heads) => hidden / heads,
            _ => {
                return Err(model_err(
                    name,
                    "hidden_size must be a multiple of num_attention_heads".into(),
                ));
            }
        };
        let intermediate = match c.usize(&["intermediate_size", "n_inner"]) {
            Some(i) if i > 0 && i <= 64 * MAX_HIDDEN => i,
            Some(i) => {
                return Err(model_err(
                    name,
                    format!("config.json: intermediate_size = {i} is out of range"),
                ));
            }
            None => 4 * hidden,
        };
        let vocab = match c.usize(&["vocab_size"]) {
            Some(v) if v == 0 || v > MAX_VOCAB => {
                return Err(model_err(
                    name,
                    format!("config.json: vocab_size = {v} is out of range (1 to {MAX_VOCAB})"),
                ));
            }
            v => v,
        };
        let max_positions = c
            .usize(&["max_position_embeddings", "n_positions"])
            .unwrap_or(512);
        if max_positions == 0 || max_positions > MAX_POSITIONS {
            return Err(model_err(
                name,
                format!("config.json: max_position_embeddings = {max_positions} is out of range"),
            ));
        }
        let eps = match family {
            Family::Qwen => c.f64(&["rms_norm_eps"]).unwrap_or(1e-6),
            Family::ModernBert => c.f64(&["norm_eps", "layer_norm_eps"]).unwrap_or(1e-5),
            _ => c
                .f64(&["layer_norm_eps", "layer_norm_epsilon"])
                .unwrap_or(1e-12),
        } as f32;
        let act_name = c
            .str(&["hidden_act", "hidden_activation", "activation_function"])
            .unwrap_or(match family {
                Family::Qwen | Family::Nomic => "silu",
                _ => "gelu",
            });
        let act = Act::parse(act_name)
            .ok_or_else(|| model_err(name, format!("unsupported activation {act_name:?}")))?;
        let rope = |keys: &[&str], default: f64| {
            c.raw(&["rope_parameters"])
                .and_then(|p| p["rope_theta"].as_f64())
                .or_else(|| c.f64(keys))
                .unwrap_or(default)
        };
        let mut arch = Arch {
            family,
            hidden,
            layers,
            heads,
            kv_heads,
            head_dim,
            intermediate,
            vocab,
            max_positions,
            eps,
            act,
            positions: Positions::Rotary,
            rope_theta: 10_000.0,
            local_rope_theta: 10_000.0,
            global_every: 1,
            window: usize::MAX,
            causal: false,
        };
        match family {
            Family::Bert => {
                if c.str(&["position_embedding_type"])
                    .is_some_and(|p| p != "absolute")
                {
                    return Err(model_err(
                        name,
                        "only absolute position embeddings are supported for BERT".into(),
                    ));
                }
                arch.positions = Positions::Absolute { offset: 0 };
            }
            Family::Roberta => {
                let pad = c.usize(&["pad_token_id"]).unwrap_or(1);
                arch.positions = Positions::Absolute { offset: pad + 1 };
            }
            // MPNet's padding index is fixed at 1 whatever the config says.
            Family::MpNet => arch.positions = Positions::Absolute { offset: 2 },
            Family::Nomic => {
                if c.bool(&["prenorm"]) == Some(true) || c.bool(&["causal"]) == Some(true) {
                    return Err(model_err(
                        name,
                        "pre-norm or causal NomicBert variants are not supported".into(),
                    ));
                }
                arch.rope_theta = rope(&["rotary_emb_base", "rope_theta"], 10_000.0);
                if c.f64(&["rotary_emb_fraction"]).is_some_and(|f| f != 1.0)
                    || c.bool(&["rotary_emb_interleaved"]) == Some(true)
                {
                    return Err(model_err(
                        name,
                        "partial or interleaved rotary embeddings are not supported".into(),
                    ));
                }
            }
            Family::Gte => {
                let mut theta = rope(&["rope_theta"], 10_000.0);
                let scaling = c.raw(&["rope_scaling"]).cloned().or_else(|| {
                    c.raw(&["rope_parameters"])
                        .filter(|p| p["rope_type"].as_str().is_some_and(|t| t != "default"))
                        .cloned()
                });
                if let Some(s) = scaling.filter(|s| !s.is_null()) {
                    let kind = s["type"].as_str().or(s["rope_type"].as_str()).unwrap_or("");
                    let factor = s["factor"].as_f64().unwrap_or(1.0);
                    if kind != "ntk" {
                        return Err(model_err(
                            name,
                            format!("unsupported rope scaling {kind:?} (only ntk)"),
                        ));
                    }
                    // NewModel's NTK scaling: the base grows by factor^(d / (d - 2)).
                    let d = head_dim as f64;
                    theta *= factor.powf(d / (d - 2.0));
                }
                if c.str(&["layer_norm_type"])
                    .is_some_and(|t| t != "layer_norm")
                    || c.bool(&["pack_qkv"]) == Some(false)
                {
                    return Err(model_err(
                        name,
                        "NewModel variants without packed QKV or with another norm are not \
                         supported"
                            .into(),
                    ));
                }
                if c.bool(&["logn_attention_scale"]) == Some(true) {
                    return Err(model_err(
                        name,
                        "logn attention scaling is not supported".into(),
                    ));
                }
                arch.rope_theta = theta;
            }
            Family::ModernBert => {
                arch.rope_theta = c.f64(&["global_rope_theta"]).unwrap_or(160_000.0);
                arch.local_rope_theta = c.f64(&["local_rope_theta"]).unwrap_or(10_000.0);
                arch.global_every = c.usize(&["global_attn_every_n_layers"]).unwrap_or(3).max(1);
                arch.window = c.usize(&["local_attention"]).unwrap_or(128) / 2;
            }
            Family::Qwen => {
                arch.rope_theta = rope(&["rope_theta"], 1_000_000.0);
                arch.causal = true;
                if c.raw(&["rope_scaling"]).is_some_and(|s| !s.is_null()) {
                    return Err(model_err(name, "rope scaling is not supported".into()));
                }
            }
        }
        Ok(arch)
    }

    /// Whether layer `i` attends within a window (ModernBERT's local layers).
    fn is_local(&self, i: usize) -> bool {
        self.family == Family::ModernBert && !i.is_multiple_of(self.global_every)
    }

    /// The longest sequence the model reads (learned positions end there; others are
    /// limited by `max_position_embeddings` too, as their configs say).
    pub(crate) fn max_tokens(&self) -> usize {
        match self.positions {
            Positions::Absolute { offset } => self.max_positions.saturating_sub(offset),
            _ => self.max_positions,
        }
    }
}

/// Layer norm (`beta` zero without a bias) or RMS norm (`beta` empty).
#[derive(Debug)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rms: bool,
}

impl Norm {
    fn apply(&self, x: &mut [f32], width: usize, eps: f32) {
        for row in x.chunks_exact_mut(width) {
            if self.rms {
                rms_norm(row, &self.gamma, eps);
            } else {
                layer_norm(row, &self.gamma, &self.beta, eps);
            }
        }
    }
}

/// One layer's weights, mapped to a common shape.
#[derive(Debug)]
struct Layer {
    /// Pre-norm families: before attention and before the MLP.
    attn_norm: Option<Norm>,
    mlp_norm: Option<Norm>,
    /// Q, K and V in one product (`q_dim + 2 * kv_dim` outputs).
    qkv: Linear,
    /// Per-head RMS norms of queries and keys (Qwen3).
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    out: Linear,
    /// Post-norm families: after each residual sum.
    attn_post: Option<Norm>,
    mlp_post: Option<Norm>,
    /// The MLP's first product: `[activated | gate multiplier]` halves when gated.
    up: Linear,
    gated: bool,
    down: Linear,
}

/// The weights of an encoder and the code that runs it.
#[derive(Debug)]
pub(crate) struct Transformer {
    pub(crate) arch: Arch,
    /// The word embeddings, f16 below float32 precision (a large vocabulary's table is a
    /// large share of a model).
    word: Table,
    position: Option<Vec<f32>>,
    /// The token type table (`types x hidden`); type 0 unless a pair says otherwise.
    token_type: Option<Vec<f32>>,
    emb_norm: Option<Norm>,
    layers: Vec<Layer>,
    final_norm: Option<Norm>,
    /// MPNet: `buckets x heads`.
    relative_bias: Option<Vec<f32>>,
    /// Inverse frequencies of the rotary embeddings (global, local).
    inv_freq: Vec<f32>,
    local_inv_freq: Vec<f32>,
}

/// Reads tensors by name as f32 from a model's safetensors files.
pub(crate) struct Weights {
    st: MmapedSafetensors,
    name: String,
    /// The prefix the checkpoint's names carry (`bert.`, `model.`, ...).
    prefix: String,
    precision: Precision,
}

impl Weights {
    /// Opens the weights of the model in `dir` (one file or a sharded index).
    pub(crate) fn open(name: &str, dir: &Path, precision: Precision) -> Result<Weights> {
        let single = dir.join("model.safetensors");
        let files: Vec<PathBuf> = if single.is_file() {
            vec![single]
        } else if dir.join("model.safetensors.index.json").is_file() {
            shard_files(name, dir)?
        } else {
            let hint = if dir.join("pytorch_model.bin").exists() {
                " (only pytorch_model.bin is present: semantik loads safetensors only, never \
                 pickle files)"
            } else {
                ""
            };
            return Err(model_err(
                name,
                format!("model.safetensors is missing{hint}"),
            ));
        };
        // SAFETY: the files are mapped read-only; semantik never writes model files, and a
        // model directory changed under a running process is outside the supported use.
        let st = unsafe { MmapedSafetensors::multi(&files) }
            .map_err(|e| model_err(name, format!("cannot read safetensors: {e}")))?;
        Ok(Weights {
            st,
            name: name.to_string(),
            prefix: String::new(),
            precision,
        })
    }

    /// The same weights, names read without a prefix.
    fn unprefixed(mut self) -> Self {
        self.prefix.clear();
        self
    }

    fn has(&self, full: &str) -> bool {
        self.st.get(full).is_ok()
    }

    /// Picks the prefix under which `probe` exists.
    fn with_prefix(mut self, probe: &str, prefixes: &[&str]) -> Result<Self> {
        match prefixes.iter().find(|p| self.has(&format!("{p}{probe}"))) {
            Some(p) => {
                self.prefix = p.to_string();
                Ok(self)
            }
            None => Err(model_err(
                &self.name,
                format!("not a checkpoint of this architecture: {probe} is missing"),
            )),
        }
    }

    fn exists(&self, name: &str) -> bool {
        self.has(&format!("{}{name}", self.prefix))
    }

    /// Tensor `name` (or the first of `names` that exists) as f32, with its shape.
    fn get_any(&self, names: &[&str]) -> Result<(Vec<f32>, Vec<usize>)> {
        let Some(full) = names
            .iter()
            .map(|n| format!("{}{n}", self.prefix))
            .find(|f| self.has(f))
        else {
            return Err(model_err(
                &self.name,
                format!("missing tensor {}{}", self.prefix, names[0]),
            ));
        };
        let t = self
            .st
            .load(&full, &Device::Cpu)
            .map_err(|e| model_err(&self.name, format!("tensor {full}: {e}")))?;
        if !matches!(
            t.dtype(),
            DType::F32 | DType::F16 | DType::BF16 | DType::F64
        ) {
            return Err(model_err(
                &self.name,
                format!(
                    "tensor {full} has dtype {:?}; a float type is required",
                    t.dtype()
                ),
            ));
        }
        let shape = t.dims().to_vec();
        let v = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| model_err(&self.name, format!("tensor {full}: {e}")))?;
        Ok((v, shape))
    }

    /// Tensor `names[..]` with exactly `shape`.
    fn expect(&self, names: &[&str], shape: &[usize]) -> Result<Vec<f32>> {
        let (v, got) = self.get_any(names)?;
        if got != shape {
            return Err(model_err(
                &self.name,
                format!("tensor {} has shape {got:?}, expected {shape:?}", names[0]),
            ));
        }
        Ok(v)
    }

    fn maybe(&self, name: &str, shape: &[usize]) -> Result<Option<Vec<f32>>> {
        if self.exists(name) {
            self.expect(&[name], shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A LayerNorm `base.weight` / `base.bias` (or the old `gamma` / `beta`); the bias may be
    /// absent.
    fn layer_norm(&self, base: &str, h: usize) -> Result<Norm> {
        let gamma = self.expect(&[&format!("{base}.weight"), &format!("{base}.gamma")], &[h])?;
        let beta = match [format!("{base}.bias"), format!("{base}.beta")]
            .iter()
            .find(|n| self.exists(n))
        {
            Some(n) => self.expect(&[n], &[h])?,
            None => vec![0.0; h],
        };
        Ok(Norm {
            gamma,
            beta,
            rms: false,
        })
    }

    fn rms_norm(&self, base: &str, h: usize) -> Result<Norm> {
        Ok(Norm {
            gamma: self.expect(&[&format!("{base}.weight")], &[h])?,
            beta: Vec::new(),
            rms: true,
        })
    }

    /// PyTorch linear layers `bases` (each `rows x inputs`, some given as row ranges of a
    /// fused tensor), concatenated along their outputs; biases where present (zeros for a
    /// part without one, none at all when no part has one).
    fn linear(&self, parts: &[Part], inputs: usize) -> Result<Linear> {
        let mut weight = Vec::new();
        let mut bias = Vec::new();
        let mut any_bias = false;
        let mut outputs = 0;
        for part in parts {
            let (w, shape) = self.get_any(&[&format!("{}.weight", part.base)])?;
            let rows = shape.first().copied().unwrap_or(0);
            if shape.len() != 2 || shape[1] != inputs || part.rows.end > rows {
                return Err(model_err(
                    &self.name,
                    format!(
                        "tensor {}.weight has shape {shape:?}, expected rows {:?} of {inputs} \
                         inputs",
                        part.base, part.rows
                    ),
                ));
            }
            let (lo, hi) = (part.rows.start, part.rows.end);
            weight.extend_from_slice(&w[lo * inputs..hi * inputs]);
            match self.maybe(&format!("{}.bias", part.base), &[rows])? {
                Some(b) => {
                    any_bias = true;
                    bias.extend_from_slice(&b[lo..hi]);
                }
                None => bias.extend(std::iter::repeat_n(0.0, hi - lo)),
            }
            outputs += hi - lo;
        }
        Ok(Linear::from_torch(
            &weight,
            outputs,
            inputs,
            any_bias.then_some(bias),
            self.precision,
        ))
    }
}

impl Weights {
    /// The linear layer `base` (`outputs x inputs`); `bias`: whether it must have one (else
    /// it may).
    pub(crate) fn dense(
        &self,
        base: &str,
        inputs: usize,
        outputs: usize,
        bias: bool,
    ) -> Result<Linear> {
        if bias && !self.exists(&format!("{base}.bias")) {
            return Err(model_err(
                &self.name,
                format!("missing tensor {}{base}.bias", self.prefix),
            ));
        }
        let l = self.linear(&[part(base, 0..outputs)], inputs)?;
        if l.outputs != outputs {
            return Err(model_err(&self.name, format!("{base} has other sizes")));
        }
        Ok(l)
    }

    /// The first of `names` that exists, a 2-d table, with its width.
    pub(crate) fn table(&self, names: &[&str]) -> Result<(Vec<f32>, usize)> {
        let (t, shape) = self.get_any(names)?;
        match shape[..] {
            [rows, dim] if rows > 0 && dim > 0 => Ok((t, dim)),
            _ => Err(model_err(
                &self.name,
                format!("embedding table has shape {shape:?}"),
            )),
        }
    }
}

/// A table of rows of `hidden` values.
#[derive(Debug)]
enum Table {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
}

impl Table {
    fn len(&self) -> usize {
        match self {
            Table::F32(t) => t.len(),
            Table::F16(t) => t.len(),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Table::F32(t) => t.len() * 4,
            Table::F16(t) => t.len() * 2,
        }
    }

    /// Row `i` (of `out.len()` values) into `out`.
    fn row(&self, i: usize, out: &mut [f32]) {
        let h = out.len();
        match self {
            Table::F32(t) => out.copy_from_slice(&t[i * h..(i + 1) * h]),
            Table::F16(t) => {
                use half::slice::HalfFloatSliceExt;
                t[i * h..(i + 1) * h].convert_to_f32_slice(out);
            }
        }
    }
}

/// Rows `rows` of the linear layer `base`.
struct Part {
    base: String,
    rows: std::ops::Range<usize>,
}

fn part(base: impl Into<String>, rows: std::ops::Range<usize>) -> Part {
    Part {
        base: base.into(),
        rows,
    }
}

/// The shard files a `model.safetensors.index.json` names.
fn shard_files(name: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(dir.join("model.safetensors.index.json"))
        .map_err(|e| model_err(name, format!("model.safetensors.index.json: {e}")))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| model_err(name, format!("model.safetensors.index.json: {e}")))?;
    let mut files: Vec<String> = v["weight_map"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.dedup();
    if files.is_empty() || files.iter().any(|f| f.contains('/') || f.contains("..")) {
        return Err(model_err(
            name,
            "model.safetensors.index.json names no usable shard".into(),
        ));
    }
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

/// Per-thread buffers, grown as needed and reused across sequences.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    scores: Vec<f32>,
    ctx: Vec<f32>,
    inter: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    local_cos: Vec<f32>,
    local_sin: Vec<f32>,
    buckets: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn ensure(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

impl Transformer {
    /// Loads the encoder in `dir`, whose `config.json` says `arch`.
    pub(crate) fn load(name: &str, dir: &Path, arch: Arch, precision: Precision) -> Result<Self> {
        Ok(Self::load_with_weights(name, dir, arch, precision)?.0)
    }

    /// As [`Transformer::load`], with the checkpoint's weights (for a head beside the encoder)
    /// and the prefix the encoder's names carry.
    pub(crate) fn load_with_weights(
        name: &str,
        dir: &Path,
        arch: Arch,
        precision: Precision,
    ) -> Result<(Self, Weights, String)> {
        let w = Weights::open(name, dir, precision)?;
        let h = arch.hidden;
        let (q_dim, kv_dim) = (arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim);
        let inter = arch.intermediate;
        let word_names: &[&str] = match arch.family {
            Family::ModernBert => &["embeddings.tok_embeddings.weight"],
            Family::Qwen => &["embed_tokens.weight"],
            _ => &["embeddings.word_embeddings.weight"],
        };
        let w = w.with_prefix(
            word_names[0],
            &[
                "",
                "bert.",
                "roberta.",
                "mpnet.",
                "model.",
                "new.",
                "0.auto_model.",
            ],
        )?;
        // The table may be larger than config.json's vocabulary (padded checkpoints).
        let (word, shape) = w.get_any(word_names)?;
        if shape.len() != 2 || shape[1] != h || shape[0] < arch.vocab.unwrap_or(1) {
            return Err(model_err(
                name,
                format!(
                    "word embeddings have shape {shape:?}, expected {:?} x {h}",
                    arch.vocab
                ),
            ));
        }
        let position = match arch.positions {
            Positions::Absolute { .. } => Some(w.expect(
                &["embeddings.position_embeddings.weight"],
                &[arch.max_positions, h],
            )?),
            _ => None,
        };
        let token_type = if w.exists("embeddings.token_type_embeddings.weight") {
            let (t, shape) = w.get_any(&["embeddings.token_type_embeddings.weight"])?;
            if shape.len() != 2 || shape[0] == 0 || shape[1] != h {
                return Err(model_err(
                    name,
                    format!("token type embeddings have shape {shape:?}"),
                ));
            }
            Some(t)
        } else {
            None
        };
        let emb_norm = match arch.family {
            Family::Qwen => None,
            Family::Nomic if w.exists("emb_ln.weight") => Some(w.layer_norm("emb_ln", h)?),
            Family::ModernBert => Some(w.layer_norm("embeddings.norm", h)?),
            _ => Some(w.layer_norm("embeddings.LayerNorm", h)?),
        };
        let mut layers = Vec::with_capacity(arch.layers);
        for i in 0..arch.layers {
            layers.push(load_layer(&w, &arch, i, q_dim, kv_dim, inter)?);
        }
        let final_norm = match arch.family {
            Family::ModernBert => Some(w.layer_norm("final_norm", h)?),
            Family::Qwen => Some(w.rms_norm("norm", h)?),
            _ => None,
        };
        let relative_bias = match arch.family {
            Family::MpNet => {
                let (b, shape) = w.get_any(&["encoder.relative_attention_bias.weight"])?;
                if shape.len() != 2 || shape[1] != arch.heads || shape[0] == 0 {
                    return Err(model_err(
                        name,
                        format!("relative attention bias has shape {shape:?}"),
                    ));
                }
                Some(b)
            }
            _ => None,
        };
        let freqs = |theta: f64| -> Vec<f32> {
            let d = arch.head_dim;
            (0..d / 2)
                .map(|i| (1.0 / theta.powf(2.0 * i as f64 / d as f64)) as f32)
                .collect()
        };
        let prefix = w.prefix.clone();
        let model = Transformer {
            inv_freq: freqs(arch.rope_theta),
            local_inv_freq: freqs(arch.local_rope_theta),
            arch,
            word: if precision == Precision::Float32 {
                Table::F32(word)
            } else {
                Table::F16(word.into_iter().map(half::f16::from_f32).collect())
            },
            position,
            token_type,
            emb_norm,
            layers,
            final_norm,
            relative_bias,
        };
        Ok((model, w.unprefixed(), prefix))
    }

    pub(crate) fn hidden_size(&self) -> usize {
        self.arch.hidden
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.word.len() / self.arch.hidden
    }

    pub(crate) fn max_positions(&self) -> usize {
        self.arch.max_tokens()
    }

    /// Bytes the weights take in memory.
    pub(crate) fn weight_bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                l.qkv.weight_bytes()
                    + l.out.weight_bytes()
                    + l.up.weight_bytes()
                    + l.down.weight_bytes()
            })
            .sum();
        layers + self.word.bytes() + 4 * self.position.as_ref().map_or(0, Vec::len)
    }

    /// The number of token types (1 without a table).
    pub(crate) fn token_types(&self) -> usize {
        self.token_type
            .as_ref()
            .map_or(1, |t| t.len() / self.arch.hidden)
    }

    /// Runs the encoder on one sequence and hands its last hidden states (`ids.len() x
    /// hidden`, row-major) to `f`.
    pub(crate) fn forward<R>(&self, ids: &[u32], f: impl FnOnce(&[f32]) -> R) -> R {
        self.forward_typed(ids, None, f)
    }

    /// As [`Transformer::forward`], with each token's type (a pair's second text has type 1
    /// in BERT; types below [`Transformer::token_types`]).
    pub(crate) fn forward_typed<R>(
        &self,
        ids: &[u32],
        types: Option<&[u32]>,
        f: impl FnOnce(&[f32]) -> R,
    ) -> R {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let s = &mut *s;
            let a = &self.arch;
            let n = ids.len();
            let h = a.hidden;
            let (q_dim, kv_dim) = (a.heads * a.head_dim, a.kv_heads * a.head_dim);
            let qkv_w = q_dim + 2 * kv_dim;
            let up_w = self.layers.first().map_or(0, |l| l.up.outputs);
            ensure(&mut s.x, n * h);
            ensure(&mut s.h, n * h.max(q_dim));
            ensure(&mut s.qkv, n * qkv_w);
            ensure(&mut s.scores, n * n);
            ensure(&mut s.ctx, n * q_dim.max(h));
            ensure(&mut s.inter, n * up_w);

            self.embed(ids, types, &mut s.x[..n * h]);
            if let Some(norm) = &self.emb_norm {
                norm.apply(&mut s.x[..n * h], h, a.eps);
            }
            if a.positions == Positions::Rotary {
                rotary_tables(&self.inv_freq, n, &mut s.cos, &mut s.sin);
                if a.family == Family::ModernBert {
                    rotary_tables(&self.local_inv_freq, n, &mut s.local_cos, &mut s.local_sin);
                }
            }
            if self.relative_bias.is_some() {
                relative_buckets(n, 32, 128, &mut s.buckets);
            }
            let scale = 1.0 / (a.head_dim as f32).sqrt();
            for (i, layer) in self.layers.iter().enumerate() {
                let local = a.is_local(i);
                // Attention input: the norm of x (pre-norm) or x itself.
                let input: &[f32] = match &layer.attn_norm {
                    Some(norm) => {
                        s.h[..n * h].copy_from_slice(&s.x[..n * h]);
                        norm.apply(&mut s.h[..n * h], h, a.eps);
                        &s.h[..n * h]
                    }
                    None => &s.x[..n * h],
                };
                layer.qkv.forward(input, n, &mut s.qkv[..n * qkv_w]);
                if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                    for row in s.qkv[..n * qkv_w].chunks_exact_mut(qkv_w) {
                        qn.apply(&mut row[..q_dim], a.head_dim, a.eps);
                        kn.apply(&mut row[q_dim..q_dim + kv_dim], a.head_dim, a.eps);
                    }
                }
                if a.positions == Positions::Rotary {
                    let (cos, sin) = if local {
                        (&s.local_cos, &s.local_sin)
                    } else {
                        (&s.cos, &s.sin)
                    };
                    apply_rotary(
                        &mut s.qkv[..n * qkv_w],
                        qkv_w,
                        q_dim + kv_dim,
                        a.head_dim,
                        cos,
                        sin,
                    );
                }
                let group = a.heads / a.kv_heads;
                for head in 0..a.heads {
                    let kvh = head / group;
                    let q = &s.qkv[head * a.head_dim..];
                    let k = &s.qkv[q_dim + kvh * a.head_dim..];
                    let v = &s.qkv[q_dim + kv_dim + kvh * a.head_dim..];
                    // scores = scale * Q K^T (K^T through swapped strides).
                    matmul_acc(
                        n,
                        n,
                        a.head_dim,
                        &mut s.scores,
                        n,
                        q,
                        qkv_w,
                        k,
                        1,
                        qkv_w,
                        scale,
                        false,
                    );
                    if let Some(bias) = &self.relative_bias {
                        let buckets = bias.len() / a.heads;
                        for (sc, b) in s.scores[..n * n].iter_mut().zip(&s.buckets[..n * n]) {
                            *sc += bias[(*b).min(buckets - 1) * a.heads + head];
                        }
                    }
                    for (r, row) in s.scores[..n * n].chunks_exact_mut(n).enumerate() {
                        let (lo, hi) = if a.causal {
                            (0, r + 1)
                        } else if local {
                            (r.saturating_sub(a.window), (r + a.window + 1).min(n))
                        } else {
                            (0, n)
                        };
                        row[..lo].fill(0.0);
                        row[hi..].fill(0.0);
                        softmax(&mut row[lo..hi]);
                    }
                    // ctx[:, head] = scores V.
                    matmul_acc(
                        n,
                        a.head_dim,
                        n,
                        &mut s.ctx[head * a.head_dim..],
                        q_dim,
                        &s.scores,
                        n,
                        v,
                        qkv_w,
                        1,
                        1.0,
                        false,
                    );
                }
                // x = x + ctx Wo + bo (then the post-norm).
                layer.out.add_bias(&mut s.x[..n * h], n);
                layer
                    .out
                    .forward_acc(&s.ctx[..n * q_dim], n, &mut s.x[..n * h]);
                if let Some(norm) = &layer.attn_post {
                    norm.apply(&mut s.x[..n * h], h, a.eps);
                }
                // MLP.
                let input: &[f32] = match &layer.mlp_norm {
                    Some(norm) => {
                        s.h[..n * h].copy_from_slice(&s.x[..n * h]);
                        norm.apply(&mut s.h[..n * h], h, a.eps);
                        &s.h[..n * h]
                    }
                    None => &s.x[..n * h],
                };
                let up_w = layer.up.outputs;
                layer.up.forward(input, n, &mut s.inter[..n * up_w]);
                let inner = if layer.gated { up_w / 2 } else { up_w };
                for row in s.inter[..n * up_w].chunks_exact_mut(up_w) {
                    let (act, gate) = row.split_at_mut(inner);
                    a.act.apply(act);
                    if layer.gated {
                        act.iter_mut().zip(gate.iter()).for_each(|(x, g)| *x *= g);
                    }
                }
                // The down product reads the activated half of each row through its stride.
                layer.down.add_bias(&mut s.x[..n * h], n);
                layer
                    .down
                    .forward_acc_rs(&s.inter[..n * up_w], up_w, n, &mut s.x[..n * h]);
                if let Some(norm) = &layer.mlp_post {
                    norm.apply(&mut s.x[..n * h], h, a.eps);
                }
            }
            if let Some(norm) = &self.final_norm {
                norm.apply(&mut s.x[..n * h], h, a.eps);
            }
            f(&s.x[..n * h])
        })
    }

    /// Word (+ position, + token type) embeddings of `ids` into `x`.
    fn embed(&self, ids: &[u32], types: Option<&[u32]>, x: &mut [f32]) {
        let h = self.arch.hidden;
        for (t, (&id, row)) in ids.iter().zip(x.chunks_exact_mut(h)).enumerate() {
            let id = id as usize;
            self.word.row(id, row);
            if let (Some(pos), Positions::Absolute { offset }) =
                (&self.position, &self.arch.positions)
            {
                let p = offset + t;
                row.iter_mut()
                    .zip(&pos[p * h..(p + 1) * h])
                    .for_each(|(x, p)| *x += p);
            }
            if let Some(table) = &self.token_type {
                let ty = types.map_or(0, |ts| ts[t] as usize);
                let tt = &table[ty * h..(ty + 1) * h];
                row.iter_mut().zip(tt).for_each(|(x, t)| *x += t);
            }
        }
    }
}

/// Loads layer `i` of a model of `arch`.
fn load_layer(
    w: &Weights,
    arch: &Arch,
    i: usize,
    q_dim: usize,
    kv_dim: usize,
    inter: usize,
) -> Result<Layer> {
    let h = arch.hidden;
    let all = |n: usize| 0..n;
    let layer = match arch.family {
        Family::Bert | Family::Roberta => {
            let p = format!("encoder.layer.{i}");
            Layer {
                attn_norm: None,
                mlp_norm: None,
                qkv: w.linear(
                    &[
                        part(format!("{p}.attention.self.query"), all(q_dim)),
                        part(format!("{p}.attention.self.key"), all(kv_dim)),
                        part(format!("{p}.attention.self.value"), all(kv_dim)),
                    ],
                    h,
                )?,
                q_norm: None,
                k_norm: None,
                out: w.linear(
                    &[part(format!("{p}.attention.output.dense"), all(h))],
                    q_dim,
                )?,
                attn_post: Some(w.layer_norm(&format!("{p}.attention.output.LayerNorm"), h)?),
                up: w.linear(&[part(format!("{p}.intermediate.dense"), all(inter))], h)?,
                gated: false,
                down: w.linear(&[part(format!("{p}.output.dense"), all(h))], inter)?,
                mlp_post: Some(w.layer_norm(&format!("{p}.output.LayerNorm"), h)?),
            }
        }
        Family::MpNet => {
            let p = format!("encoder.layer.{i}");
            let a = format!("{p}.attention.attn");
            Layer {
                attn_norm: None,
                mlp_norm: None,
                qkv: w.linear(
                    &[
                        part(format!("{a}.q"), all(q_dim)),
                        part(format!("{a}.k"), all(kv_dim)),
                        part(format!("{a}.v"), all(kv_dim)),
                    ],
                    h,
                )?,
                q_norm: None,
                k_norm: None,
                out: w.linear(&[part(format!("{a}.o"), all(h))], q_dim)?,
                attn_post: Some(w.layer_norm(&format!("{p}.attention.LayerNorm"), h)?),
                up: w.linear(&[part(format!("{p}.intermediate.dense"), all(inter))], h)?,
                gated: false,
                down: w.linear(&[part(format!("{p}.output.dense"), all(h))], inter)?,
                mlp_post: Some(w.layer_norm(&format!("{p}.output.LayerNorm"), h)?),
            }
        }
        Family::Nomic if w.exists(&format!("encoder.layers.{i}.attn.Wqkv.weight")) => {
            // The Hub's checkpoints: fused Wqkv, fc11 (up), fc12 (gate), fc2.
            let p = format!("encoder.layers.{i}");
            Layer {
                attn_norm: None,
                mlp_norm: None,
                qkv: w.linear(
                    &[part(format!("{p}.attn.Wqkv"), all(q_dim + 2 * kv_dim))],
                    h,
                )?,
                q_norm: None,
                k_norm: None,
                out: w.linear(&[part(format!("{p}.attn.out_proj"), all(h))], q_dim)?,
                attn_post: Some(w.layer_norm(&format!("{p}.norm1"), h)?),
                up: w.linear(
                    &[
                        part(format!("{p}.mlp.fc12"), all(inter)),
                        part(format!("{p}.mlp.fc11"), all(inter)),
                    ],
                    h,
                )?,
                gated: true,
                down: w.linear(&[part(format!("{p}.mlp.fc2"), all(h))], inter)?,
                mlp_post: Some(w.layer_norm(&format!("{p}.norm2"), h)?),
            }
        }
        Family::Gte if w.exists(&format!("encoder.layer.{i}.attention.qkv_proj.weight")) => {
            // NewModel on the Hub: fused qkv_proj, up_gate_proj = [up; gate].
            let p = format!("encoder.layer.{i}");
            Layer {
                attn_norm: None,
                mlp_norm: None,
                qkv: w.linear(
                    &[part(
                        format!("{p}.attention.qkv_proj"),
                        all(q_dim + 2 * kv_dim),
                    )],
                    h,
                )?,
                q_norm: None,
                k_norm: None,
                out: w.linear(&[part(format!("{p}.attention.o_proj"), all(h))], q_dim)?,
                attn_post: Some(w.layer_norm(&format!("{p}.attn_ln"), h)?),
                up: w.linear(
                    &[
                        part(format!("{p}.mlp.up_gate_proj"), inter..2 * inter),
                        part(format!("{p}.mlp.up_gate_proj"), all(inter)),
                    ],
                    h,
                )?,
                gated: true,
                down: w.linear(&[part(format!("{p}.mlp.down_proj"), all(h))], inter)?,
                mlp_post: Some(w.layer_norm(&format!("{p}.mlp_ln"), h)?),
            }
        }
        Family::Nomic | Family::Gte => {
            // As transformers writes them: separate projections, gate_proj activated.
            let p = format!("layers.{i}");
            Layer {
                attn_norm: None,
                mlp_norm: None,
                qkv: w.linear(
                    &[
                        part(format!("{p}.self_attn.q_proj"), all(q_dim)),
                        part(format!("{p}.self_attn.k_proj"), all(kv_dim)),
                        part(format!("{p}.self_attn.v_proj"), all(kv_dim)),
                    ],
                    h,
                )?,
                q_norm: None,
                k_norm: None,
                out: w.linear(&[part(format!("{p}.self_attn.o_proj"), all(h))], q_dim)?,
                attn_post: Some(w.layer_norm(&format!("{p}.post_attention_layernorm"), h)?),
                up: w.linear(
                    &[
                        part(format!("{p}.mlp.gate_proj"), all(inter)),
                        part(format!("{p}.mlp.up_proj"), all(inter)),
                    ],
                    h,
                )?,
                gated: true,
                down: w.linear(&[part(format!("{p}.mlp.down_proj"), all(h))], inter)?,
                mlp_post: Some(w.layer_norm(&format!("{p}.post_mlp_layernorm"), h)?),
            }
        }
        Family::ModernBert => {
            let p = format!("layers.{i}");
            let attn_norm = if w.exists(&format!("{p}.attn_norm.weight")) {
                Some(w.layer_norm(&format!("{p}.attn_norm"), h)?)
            } else {
                None
            };
            Layer {
                attn_norm,
                mlp_norm: Some(w.layer_norm(&format!("{p}.mlp_norm"), h)?),
                qkv: w.linear(
                    &[part(format!("{p}.attn.Wqkv"), all(q_dim + 2 * kv_dim))],
                    h,
                )?,
                q_norm: None,
                k_norm: None,
                out: w.linear(&[part(format!("{p}.attn.Wo"), all(h))], q_dim)?,
                attn_post: None,
                // Wi = [input (activated) | gate].
                up: w.linear(&[part(format!("{p}.mlp.Wi"), all(2 * inter))], h)?,
                gated: true,
                down: w.linear(&[part(format!("{p}.mlp.Wo"), all(h))], inter)?,
                mlp_post: None,
            }
        }
        Family::Qwen => {
            let p = format!("layers.{i}");
            let a = format!("{p}.self_attn");
            let qk_norm = w.exists(&format!("{a}.q_norm.weight"));
            Layer {
                attn_norm: Some(w.rms_norm(&format!("{p}.input_layernorm"), h)?),
                mlp_norm: Some(w.rms_norm(&format!("{p}.post_attention_layernorm"), h)?),
                qkv: w.linear(
                    &[
                        part(format!("{a}.q_proj"), all(q_dim)),
                        part(format!("{a}.k_proj"), all(kv_dim)),
                        part(format!("{a}.v_proj"), all(kv_dim)),
                    ],
                    h,
                )?,
                q_norm: if qk_norm {
                    Some(w.rms_norm(&format!("{a}.q_norm"), arch.head_dim)?)
                } else {
                    None
                },
                k_norm: if qk_norm {
                    Some(w.rms_norm(&format!("{a}.k_norm"), arch.head_dim)?)
                } else {
                    None
                },
                out: w.linear(&[part(format!("{a}.o_proj"), all(h))], q_dim)?,
                attn_post: None,
                up: w.linear(
                    &[
                        part(format!("{p}.mlp.gate_proj"), all(inter)),
                        part(format!("{p}.mlp.up_proj"), all(inter)),
                    ],
                    h,
                )?,
                gated: true,
                down: w.linear(&[part(format!("{p}.mlp.down_proj"), all(h))], inter)?,
                mlp_post: None,
            }
        }
    };
    if layer.qkv.outputs != q_dim + 2 * kv_dim {
        return Err(model_err(
            &w.name,
            format!("layer {i}: the attention projections do not match the config"),
        ));
    }
    if layer.up.outputs != if layer.gated { 2 * inter } else { inter } {
        return Err(model_err(
            &w.name,
            format!("layer {i}: the MLP projections do not match the config"),
        ));
    }
    Ok(layer)
}

/// `cos` and `sin` of `t * inv_freq[i]` for `t < n`, rows of `inv_freq.len()`.
fn rotary_tables(inv_freq: &[f32], n: usize, cos: &mut Vec<f32>, sin: &mut Vec<f32>) {
    let half = inv_freq.len();
    ensure(cos, n * half);
    ensure(sin, n * half);
    for t in 0..n {
        for (i, f) in inv_freq.iter().enumerate() {
            let angle = t as f32 * f;
            cos[t * half + i] = angle.cos();
            sin[t * half + i] = angle.sin();
        }
    }
}

/// Rotates, in every row of `qkv` (width `row_w`), the heads of the first `dims` columns
/// (queries and keys): each head's halves `(a, b)` become `(a cos - b sin, b cos + a sin)`.
fn apply_rotary(
    qkv: &mut [f32],
    row_w: usize,
    dims: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
) {
    let half = head_dim / 2;
    for (t, row) in qkv.chunks_exact_mut(row_w).enumerate() {
        let (c, s) = (
            &cos[t * half..(t + 1) * half],
            &sin[t * half..(t + 1) * half],
        );
        for head in row[..dims].chunks_exact_mut(head_dim) {
            let (a, b) = head.split_at_mut(half);
            for i in 0..half {
                let (x, y) = (a[i], b[i]);
                a[i] = x * c[i] - y * s[i];
                b[i] = y * c[i] + x * s[i];
            }
        }
    }
}

/// MPNet's (T5's bidirectional) bucket of each relative position `j - i` of an `n`-token
/// sequence, row-major.
fn relative_buckets(n: usize, buckets: usize, max_distance: usize, out: &mut Vec<usize>) {
    if out.len() < n * n {
        out.resize(n * n, 0);
    }
    let half = buckets / 2;
    let max_exact = half / 2;
    for i in 0..n {
        for j in 0..n {
            let rel = j as i64 - i as i64;
            // n = -(memory - context); negative n (keys after the query) take the upper half.
            let m = -rel;
            let mut bucket = if m < 0 { half } else { 0 };
            let m = m.unsigned_abs() as usize;
            bucket += if m < max_exact {
                m
            } else {
                let large = max_exact
                    + ((m as f32 / max_exact as f32).ln()
                        / (max_distance as f32 / max_exact as f32).ln()
                        * (half - max_exact) as f32) as usize;
                large.min(half - 1)
            };
            out[i * n + j] = bucket;
        }
    }
}

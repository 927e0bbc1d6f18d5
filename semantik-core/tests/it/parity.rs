//! Parity with sentence-transformers for every architecture family, without the Hub: tiny
//! random-weight models that `transformers` and `sentence-transformers` built, saved in the
//! Hub's file layout with their reference outputs (`scripts/make-parity-fixtures.py`, under
//! `tests/fixtures/models/`). For each family and each of 32 texts (short, past the model's
//! window, unicode, empty): token ids identical, and cosine >= 0.99999 with |diff| <= 1e-5,
//! each text alone and all of them in one call, as documents and (where the model has
//! prompts) as queries.

use std::path::{Path, PathBuf};

use semantik_core::embed::{Embedder, Precision, SentenceEmbedder};

pub fn fixture(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(family)
}

fn reference(family: &str) -> serde_json::Value {
    let path = fixture(family).join("reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

/// The texts a reference was computed on.
fn texts(r: &serde_json::Value) -> Vec<&str> {
    r["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

fn ids(v: &serde_json::Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

/// Cosine and largest absolute difference.
pub fn compare(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    // Two zero vectors (an empty text through a static model) agree.
    let cos = if na == 0.0 && nb == 0.0 {
        1.0
    } else {
        dot / (na * nb)
    };
    (cos, max)
}

fn assert_close(family: &str, what: &str, text: &str, got: &[f32], want: &[f32]) -> f32 {
    let (cos, max) = compare(got, want);
    assert!(
        cos >= 0.99999 && max <= 1e-5,
        "{family} {what} {text:?}: cosine {cos}, max |diff| {max}"
    );
    cos
}

/// Checks one family; returns the smallest cosine seen.
fn check(family: &str) -> f32 {
    let r = reference(family);
    let model = SentenceEmbedder::load_dir(family, &fixture(family), Precision::Float32)
        .unwrap_or_else(|e| panic!("{family}: {e}"));
    let texts = texts(&r);
    assert_eq!(
        model.dimension() as u64,
        r["embedding_dim"].as_u64().unwrap()
    );
    // Token ids as the model sees the texts (documents, without any prompt).
    assert_eq!(
        model.tokenize(&texts).unwrap(),
        ids(&r["token_ids"]),
        "{family} token ids"
    );
    let prompt = |name: &str| r["prompts"][name].as_str().unwrap_or("").to_string();
    if let Some(q) = r.get("query_token_ids") {
        let prompted: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{t}", prompt("query")))
            .collect();
        let prompted: Vec<&str> = prompted.iter().map(String::as_str).collect();
        assert_eq!(
            model.tokenize(&prompted).unwrap(),
            ids(q),
            "{family} query ids"
        );
    }
    // Documents: sentence-transformers' `encode_document` when the model has a document
    // prompt, else plain `encode`.
    let documents = r.get("document_embeddings").unwrap_or(&r["embeddings"]);
    let mut worst = 1.0f32;
    let batched = model.embed(&texts).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let single = model.embed(&[text]).unwrap().pop().unwrap();
        worst = worst.min(assert_close(
            family,
            "single",
            text,
            &single,
            &rows(documents)[i],
        ));
        worst = worst.min(assert_close(
            family,
            "batched",
            text,
            &batched[i],
            &rows(documents)[i],
        ));
        if r.get("document_embeddings").is_none() {
            // Without prompts, the reference's own padded batch agrees too.
            assert_close(
                family,
                "reference batch",
                text,
                &batched[i],
                &rows(&r["embeddings_batched"])[i],
            );
        }
    }
    if let Some(queries) = r.get("query_embeddings") {
        for (i, text) in texts.iter().enumerate() {
            let q = model.embed_query(text).unwrap();
            worst = worst.min(assert_close(family, "query", text, &q, &rows(queries)[i]));
        }
    }
    worst
}

macro_rules! families {
    ($($name:ident => $family:literal),* $(,)?) => {$(
        #[test]
        fn $name() {
            let worst = check($family);
            eprintln!("{}: min cosine {worst:.9}", $family);
        }
    )*};
}

families!(
    bert_cls_dense_normalize => "bert",
    xlm_roberta_mean_prompts => "xlm_roberta",
    qwen3_last_token_instruction => "qwen3",
    nomic_bert_rotary_swiglu => "nomic_bert",
    modernbert_local_global => "modernbert",
    mpnet_relative_buckets => "mpnet",
    gte_new_model => "gte",
    static_embeddings => "static",
    weighted_mean_pooling => "weightedmean",
    max_pooling_st6_layout => "max",
);

/// A copy of a fixture whose `config.json` is rewritten by `f`.
fn variant(family: &str, f: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(family), dir.path());
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The embeddings of `dir` (a variant of `family`) equal the family's reference.
fn same_as_reference(family: &str, dir: &Path) {
    let r = reference(family);
    let model = SentenceEmbedder::load_dir(family, dir, Precision::Float32).unwrap();
    let text = r["texts"][1].as_str().unwrap();
    let want = r.get("document_embeddings").unwrap_or(&r["embeddings"]);
    let got = model.embed(&[text]).unwrap().pop().unwrap();
    assert_close(family, "variant", text, &got, &rows(want)[1]);
}

/// The Hub's own config dialects, as remote-code checkpoints ship them: NomicBert's GPT-2 style
/// names (`n_embd`, `rotary_emb_base`, ...) and GTE's `NewModel` with NTK rope scaling.
#[test]
fn hub_config_dialects_of_nomic_and_gte_load_the_same_model() {
    let nomic = variant("nomic_bert", |c| {
        let theta = c["rope_parameters"]["rope_theta"].clone();
        let o = c.as_object_mut().unwrap();
        for (from, to) in [
            ("hidden_size", "n_embd"),
            ("num_attention_heads", "n_head"),
            ("num_hidden_layers", "n_layer"),
            ("intermediate_size", "n_inner"),
            ("max_position_embeddings", "n_positions"),
            ("layer_norm_eps", "layer_norm_epsilon"),
            ("hidden_act", "activation_function"),
        ] {
            let v = o.remove(from).unwrap();
            o.insert(to.into(), v);
        }
        o.insert("activation_function".into(), "swiglu".into());
        o.remove("rope_parameters");
        o.insert("rotary_emb_base".into(), theta);
        o.insert("rotary_emb_fraction".into(), 1.0.into());
        o.insert("rotary_emb_interleaved".into(), false.into());
        o.insert("prenorm".into(), false.into());
    });
    same_as_reference("nomic_bert", nomic.path());

    // NewModel: theta' * factor^(d / (d - 2)) is the fixture's theta.
    let gte = variant("gte", |c| {
        let theta = c["rope_parameters"]["rope_theta"].as_f64().unwrap();
        let d = c["hidden_size"].as_f64().unwrap() / c["num_attention_heads"].as_f64().unwrap();
        let o = c.as_object_mut().unwrap();
        o.insert("model_type".into(), "new".into());
        o.remove("rope_parameters");
        o.insert(
            "rope_theta".into(),
            (theta / 2f64.powf(d / (d - 2.0))).into(),
        );
        o.insert(
            "rope_scaling".into(),
            serde_json::json!({"type": "ntk", "factor": 2.0}),
        );
        o.insert("pack_qkv".into(), true.into());
        o.insert("layer_norm_type".into(), "layer_norm".into());
        o.insert("logn_attention_scale".into(), false.into());
    });
    same_as_reference("gte", gte.path());
}

/// Bad model files are typed errors (`Model`, code 401), found before anything large is
/// allocated: absurd sizes, an unknown architecture (named), a tokenizer that does not parse,
/// a safetensors header that lies about its tensors.
#[test]
fn malformed_model_files_are_typed_errors() {
    let load = |dir: &Path| SentenceEmbedder::load_dir("bad", dir, Precision::Float32);
    let expect = |dir: &Path, needle: &str| {
        let err = load(dir).unwrap_err();
        assert_eq!(err.code(), semantik_core::ErrorCode::Model, "{err}");
        assert!(err.to_string().contains(needle), "{needle:?} not in {err}");
    };
    let huge = variant("bert", |c| {
        c["vocab_size"] = serde_json::json!(1_000_000_000_000u64)
    });
    expect(huge.path(), "vocab_size");
    let wide = variant("bert", |c| {
        c["intermediate_size"] = serde_json::json!(1u64 << 40)
    });
    expect(wide.path(), "intermediate_size");
    let unknown = variant("bert", |c| c["model_type"] = "t5".into());
    expect(unknown.path(), "unsupported architecture \"t5\"");
    let tokenizer = variant("bert", |_| {});
    std::fs::write(tokenizer.path().join("tokenizer.json"), "{\"version\": ").unwrap();
    expect(tokenizer.path(), "tokenizer.json");
    // A header that claims more data than the file holds.
    let lying = variant("bert", |_| {});
    let path = lying.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&header).unwrap();
    let t = &mut v["embeddings.word_embeddings.weight"];
    t["shape"] = serde_json::json!([100_000, 32]);
    let header = v.to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(&path, out).unwrap();
    expect(lying.path(), "safetensors");
}

/// Lower precisions against the float32 reference: the smallest cosine over the texts.
fn precision_cosine(family: &str, precision: Precision) -> f32 {
    let r = reference(family);
    let model = SentenceEmbedder::load_dir(family, &fixture(family), precision).unwrap();
    assert_eq!(model.precision(), precision);
    let texts = texts(&r);
    let want = rows(r.get("document_embeddings").unwrap_or(&r["embeddings"]));
    model
        .embed(&texts)
        .unwrap()
        .iter()
        .zip(&want)
        .map(|(g, w)| compare(g, w).0)
        .fold(1.0, f32::min)
}

/// float16 weights give cosine >= 0.99999 to float32 on every family; int8 (per-channel
/// weights, per-row inputs) >= 0.999 even on these tiny random models.
#[test]
fn float16_and_int8_stay_close_to_float32_on_every_family() {
    for family in [
        "bert",
        "xlm_roberta",
        "qwen3",
        "nomic_bert",
        "modernbert",
        "mpnet",
        "gte",
        "static",
    ] {
        let f16 = precision_cosine(family, Precision::Float16);
        let i8 = precision_cosine(family, Precision::Int8);
        eprintln!("{family}: float16 min cosine {f16:.6}, int8 {i8:.6}");
        assert!(f16 >= 0.99999, "{family} float16: {f16}");
        assert!(i8 >= 0.999, "{family} int8: {i8}");
    }
}

/// An XLM-RoBERTa cross-encoder (bge-reranker's architecture) scores pairs as
/// sentence-transformers' `CrossEncoder` does (its logits; the sigmoid it applies by default
/// keeps their order).
#[test]
fn xlm_roberta_reranker_scores_pairs_like_sentence_transformers() {
    use semantik_core::rerank::{CrossEncoder, Reranker};
    let family = "xlm_roberta_reranker";
    let r = reference(family);
    let ce = CrossEncoder::load_dir(family, &fixture(family), semantik_core::embed::Device::Cpu)
        .unwrap();
    let logits: Vec<f32> = r["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_f64().unwrap() as f32)
        .collect();
    let pairs = r["pairs"].as_array().unwrap();
    for (pair, want) in pairs.iter().zip(&logits) {
        let (q, p) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        let got = ce.score(q, &[p]).unwrap()[0];
        assert!((got - want).abs() <= 1e-5, "{q:?} / {p:?}: {got} vs {want}");
    }
    // Several passages of one query in one call, in input order.
    let q = pairs[0][0].as_str().unwrap();
    let same: Vec<(&str, f32)> = pairs
        .iter()
        .zip(&logits)
        .filter(|(p, _)| p[0].as_str() == Some(q))
        .map(|(p, l)| (p[1].as_str().unwrap(), *l))
        .collect();
    let scores = ce
        .score(q, &same.iter().map(|(p, _)| *p).collect::<Vec<_>>())
        .unwrap();
    for (s, (_, want)) in scores.iter().zip(&same) {
        assert!((s - want).abs() <= 1e-5);
    }
}

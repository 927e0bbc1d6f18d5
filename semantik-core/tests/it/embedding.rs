//! The embedding pipeline: parity with sentence-transformers on the real model, loading rules,
//! and a second (fixture) model beside the real one.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use semantik_core::embed::{CandleEmbedder, DEFAULT_MODEL, Embedder, SentenceEmbedder};
use semantik_core::{CollectionConfig, ErrorCode, SearchMode};

use crate::common::temp_db;

/// The shared folder beside the repository (CI copies it there), or `$SEMANTIK_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SEMANTIK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// The real default model, loaded once per test binary.
pub fn minilm() -> &'static SentenceEmbedder {
    static MODEL: OnceLock<SentenceEmbedder> = OnceLock::new();
    MODEL.get_or_init(|| {
        SentenceEmbedder::load(DEFAULT_MODEL).unwrap_or_else(|e| {
            panic!("{e}\nthe real-model tests need the default model: run `make model`")
        })
    })
}

struct Golden {
    text: String,
    embedding: Vec<f32>,
    input_ids: Vec<u32>,
}

fn read_jsonl(name: &str) -> Vec<serde_json::Value> {
    let path = shared_dir().join("golden/all-MiniLM-L6-v2").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn golden() -> Vec<Golden> {
    let vectors = read_jsonl("golden.jsonl");
    let tokens = read_jsonl("golden_tokens.jsonl");
    assert_eq!(vectors.len(), tokens.len());
    vectors
        .iter()
        .zip(&tokens)
        .map(|(v, t)| {
            assert_eq!(v["text"], t["text"]);
            Golden {
                text: v["text"].as_str().unwrap().to_string(),
                embedding: floats(&v["embedding"]),
                input_ids: t["input_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
            }
        })
        .collect()
}

/// (cosine, max |difference|).
fn compare(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    (dot / (na * nb), max)
}

#[test]
fn token_ids_match_sentence_transformers_exactly() {
    let model = minilm();
    assert_eq!(model.max_seq_length(), 256);
    let golden = golden();
    let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();
    let ids = model.tokenize(&texts).unwrap();
    let mismatches: Vec<&str> = golden
        .iter()
        .zip(&ids)
        .filter(|(g, got)| g.input_ids != **got)
        .map(|(g, _)| g.text.as_str())
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} texts tokenized differently: {mismatches:?}",
        mismatches.len()
    );
}

#[test]
fn vectors_match_sentence_transformers_single_and_batched() {
    let model = minilm();
    let golden = golden();
    let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();
    let batched = model.embed(&texts).unwrap();
    let mut worst = (1.0f64, 0.0f64);
    for (g, v) in golden.iter().zip(&batched) {
        let single = model.embed(&[g.text.as_str()]).unwrap().pop().unwrap();
        let (cos, max) = compare(&single, &g.embedding);
        assert!(
            cos >= 0.99999 && max <= 1e-5,
            "{:?}: cosine {cos}, max diff {max}",
            g.text
        );
        let (_, between) = compare(&single, v);
        assert!(
            between <= 1e-6,
            "{:?}: batched differs from single by {between}",
            g.text
        );
        worst = (worst.0.min(cos), worst.1.max(max));
    }
    eprintln!(
        "parity with sentence-transformers over {} texts: min cosine {:.9}, max |diff| {:.2e}",
        golden.len(),
        worst.0,
        worst.1
    );

    // The padded batch of 16 that sentence-transformers encoded together.
    for row in read_jsonl("golden_batch16.jsonl") {
        let v = model
            .embed(&[row["text"].as_str().unwrap()])
            .unwrap()
            .pop()
            .unwrap();
        let (cos, max) = compare(&v, &floats(&row["embedding"]));
        assert!(cos >= 0.99999 && max <= 1e-5);
    }
}

#[test]
fn stock_candle_agrees_with_the_native_forward_pass() {
    let stock = CandleEmbedder::load(DEFAULT_MODEL, 8).unwrap();
    let golden = golden();
    let texts: Vec<&str> = golden.iter().take(24).map(|g| g.text.as_str()).collect();
    let a = stock.embed(&texts).unwrap();
    let b = minilm().embed(&texts).unwrap();
    for (x, y) in a.iter().zip(&b) {
        let (cos, max) = compare(x, y);
        assert!(cos >= 0.99999 && max <= 1e-5, "cosine {cos}, max {max}");
    }
}

#[test]
fn missing_and_malformed_models_are_typed_errors() {
    // Offline (as every test runs: no test reaches a hub), a model in no cache is not found.
    let offline = semantik_core::embed::HubConfig::from_env().with_offline(true);
    let err =
        semantik_core::embed::locate_model("nobody/absent-model", None, &offline, &mut |_| {})
            .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "gpt2", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8, "max_position_embeddings": 8}"#).unwrap();
    let err = SentenceEmbedder::load(dir.path().to_str().unwrap()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Model);
    assert!(
        err.to_string().contains("unsupported architecture"),
        "{err}"
    );
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8, "max_position_embeddings": 8}"#).unwrap();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"pickle").unwrap();
    let err = SentenceEmbedder::load(dir.path().to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("never pickle"), "{err}");
    std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = SentenceEmbedder::load(dir.path().to_str().unwrap()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Model);
}

#[test]
fn default_model_collection_indexes_and_searches() {
    let (_dir, db) = temp_db();
    let col = db.create_collection(CollectionConfig::new("real")).unwrap();
    assert_eq!(col.info().unwrap().dimension(), 384);
    col.add_texts([
        "To read a file, open it with open() and call read() on the file object.",
        "Lists can be sorted in place with list.sort() or copied with sorted().",
        "The global interpreter lock lets one thread execute Python bytecode at a time.",
    ])
    .unwrap()
    .wait(None)
    .unwrap();
    let hits = col
        .search("how do I order the items of a list?")
        .limit(1)
        .run()
        .unwrap();
    assert!(
        hits[0].text.starts_with("Lists can be sorted"),
        "{:?}",
        hits[0].text
    );
    let hits = col.search("threads and the GIL").limit(1).run().unwrap();
    assert!(hits[0].text.starts_with("The global interpreter lock"));
}

#[test]
fn token_chunks_fit_the_model_window_and_cover_a_real_document() {
    let (_dir, db) = temp_db();
    let chunking = semantik_core::ChunkingConfig::new().with_size(64, 8);
    let col = db
        .create_collection(CollectionConfig::new("tokens").with_chunking(chunking))
        .unwrap();
    // A real document: this crate's own module docs and code.
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/jobs/ingest.rs"))
            .unwrap();
    col.add_texts([semantik_core::DocumentInput::new(text.clone()).with_id("ingest.rs")])
        .unwrap()
        .wait(None)
        .unwrap();
    let chunks = col.chunks("ingest.rs").unwrap();
    assert!(chunks.len() > 20, "{}", chunks.len());
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    for (c, ids) in chunks.iter().zip(minilm().tokenize(&texts).unwrap()) {
        // 64 tokens of text plus [CLS] and [SEP].
        assert!(ids.len() <= 66, "{} tokens: {:?}", ids.len(), c.text);
        assert_eq!(&text[c.start..c.end], c.text);
    }
    // Every line with words is in some chunk.
    for (pos, line) in text.match_indices('\n') {
        let _ = line;
        let next = &text[pos + 1..];
        if let Some(word) = next
            .find(char::is_alphanumeric)
            .filter(|&w| w < next.find('\n').unwrap_or(next.len()))
        {
            let at = pos + 1 + word;
            assert!(
                chunks.iter().any(|c| c.start <= at && at < c.end),
                "byte {at} in no chunk"
            );
        }
    }
}

/// Writes a small random BERT sentence-transformers model (2 layers, 64-d, 4 heads, weights
/// under a `bert.` prefix) with a word-piece tokenizer into `dir`.
pub fn write_tiny_bert(dir: &Path, seed: u64) {
    use candle_core::{Device, Tensor};
    use rand::{Rng, SeedableRng};
    let (h, layers, inter, positions) = (64usize, 2usize, 128usize, 64usize);
    let mut words: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for c in 'a'..='z' {
        words.push(c.to_string());
        words.push(format!("##{c}"));
    }
    for w in [
        "the", "rust", "python", "file", "list", "sort", "read", "lock", "thread", "data", ".",
    ] {
        words.push(w.to_string());
    }
    let vocab: serde_json::Map<String, serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.clone(), serde_json::json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": true
            })
        })
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
    });
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::json!({
        "model_type": "bert", "hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": 4,
        "intermediate_size": inter, "max_position_embeddings": positions, "vocab_size": words.len(),
        "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "pad_token_id": 0, "initializer_range": 0.02
    }).to_string()).unwrap();
    std::fs::write(dir.join("modules.json"), r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#).unwrap();
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension":64,"pooling_mode_mean_tokens":true}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length":48}"#,
    )
    .unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tensors = std::collections::HashMap::new();
    let mut put = |name: String, shape: &[usize], scale: f32, offset: f32| {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| offset + scale * (rng.random::<f32>() * 2.0 - 1.0))
            .collect();
        tensors.insert(
            format!("bert.{name}"),
            Tensor::from_vec(v, shape, &Device::Cpu).unwrap(),
        );
    };
    put(
        "embeddings.word_embeddings.weight".into(),
        &[words.len(), h],
        0.5,
        0.0,
    );
    put(
        "embeddings.position_embeddings.weight".into(),
        &[positions, h],
        0.1,
        0.0,
    );
    put(
        "embeddings.token_type_embeddings.weight".into(),
        &[2, h],
        0.1,
        0.0,
    );
    put("embeddings.LayerNorm.weight".into(), &[h], 0.1, 1.0);
    put("embeddings.LayerNorm.bias".into(), &[h], 0.1, 0.0);
    for l in 0..layers {
        let p = format!("encoder.layer.{l}");
        for m in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            put(format!("{p}.{m}.weight"), &[h, h], 0.2, 0.0);
            put(format!("{p}.{m}.bias"), &[h], 0.05, 0.0);
        }
        put(
            format!("{p}.intermediate.dense.weight"),
            &[inter, h],
            0.2,
            0.0,
        );
        put(format!("{p}.intermediate.dense.bias"), &[inter], 0.05, 0.0);
        put(format!("{p}.output.dense.weight"), &[h, inter], 0.2, 0.0);
        put(format!("{p}.output.dense.bias"), &[h], 0.05, 0.0);
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            put(format!("{p}.{n}.weight"), &[h], 0.1, 1.0);
            put(format!("{p}.{n}.bias"), &[h], 0.1, 0.0);
        }
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

#[test]
fn tiny_fixture_model_matches_stock_candle_and_lives_beside_the_real_one() {
    let fixture = tempfile::tempdir().unwrap();
    write_tiny_bert(fixture.path(), 7);
    let path = fixture.path().to_str().unwrap();
    let native = SentenceEmbedder::load(path).unwrap();
    assert_eq!((native.dimension(), native.max_seq_length()), (64, 48));
    let stock = CandleEmbedder::load(path, 4).unwrap();
    let long = "the rust file list ".repeat(30);
    let texts = [
        "the rust data",
        "read the file.",
        "sort a list",
        "",
        long.as_str(),
    ];
    assert_eq!(
        native.tokenize(&[long.as_str()]).unwrap()[0].len(),
        48,
        "truncated at max_seq_length"
    );
    for (a, b) in native
        .embed(&texts)
        .unwrap()
        .iter()
        .zip(stock.embed(&texts).unwrap())
    {
        let (cos, max) = compare(a, &b);
        assert!(cos >= 0.99999 && max <= 1e-5, "cosine {cos}, max {max}");
    }

    let (_dir, db) = temp_db();
    let real = db.create_collection(CollectionConfig::new("real")).unwrap();
    let tiny = db
        .create_collection(CollectionConfig::new("tiny").with_model(path))
        .unwrap();
    let err = db
        .create_collection(
            CollectionConfig::new("bad")
                .with_model(path)
                .with_dimension(384),
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DimensionMismatch);
    assert_eq!(tiny.info().unwrap().dimension(), 64);
    let texts = ["the rust data", "read the file", "sort a list"];
    let (a, b) = (
        real.add_texts(texts).unwrap(),
        tiny.add_texts(texts).unwrap(),
    );
    a.wait(None).unwrap();
    b.wait(None).unwrap();
    assert_eq!(
        real.search("sorting lists").limit(1).run().unwrap()[0].text,
        "sort a list"
    );
    let hit = &tiny
        .search("read the file")
        .mode(SearchMode::Semantic)
        .limit(1)
        .run()
        .unwrap()[0];
    assert_eq!(hit.text, "read the file");
    assert!((hit.score - 1.0).abs() < 1e-5);
}

#[test]
fn integer_weights_are_refused_with_a_typed_error() {
    use candle_core::{Device, Tensor};
    let fixture = tempfile::tempdir().unwrap();
    write_tiny_bert(fixture.path(), 1);
    let path = fixture.path().join("model.safetensors");
    let mut tensors: std::collections::HashMap<String, Tensor> =
        candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let bad = Tensor::zeros((2, 64), candle_core::DType::I64, &Device::Cpu).unwrap();
    tensors.insert("bert.embeddings.token_type_embeddings.weight".into(), bad);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = SentenceEmbedder::load(fixture.path().to_str().unwrap()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Model);
    assert!(err.to_string().contains("dtype"), "{err}");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn a_device_that_is_not_compiled_in_is_a_clear_error() {
    use semantik_core::{Config, Database, embed::Device};
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(dir.path(), Config::new().with_device(Device::Cuda(0))).unwrap();
    // The model is loaded when the collection is created: the error comes then.
    let err = db
        .create_collection(CollectionConfig::new("gpu"))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.to_string().contains("`cuda` feature"), "{err}");
    assert!(db.collections().unwrap().is_empty());
}

#[test]
fn the_streaming_form_matches_embed_in_order() {
    let model = minilm();
    let texts: Vec<String> = golden().into_iter().map(|g| g.text).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let whole = model.embed(&refs).unwrap();
    let mut streamed = Vec::new();
    let mut batches = 0;
    for batch in model.embed_stream(texts.clone(), 300) {
        streamed.extend(batch.unwrap());
        batches += 1;
    }
    assert!(
        batches > 5,
        "a 300-token budget splits 87 texts into several batches"
    );
    assert_eq!(streamed, whole);
}

#!/usr/bin/env python3
"""Builds tiny random-weight embedding models and sentence-transformers reference outputs.

The fixtures let the Rust implementation be tested for numerical parity with
sentence-transformers without downloading anything from the Hugging Face Hub.

For every family below the script
  * trains a small tokenizer of the kind the family really uses (WordPiece, Unigram or
    byte-level BPE) on an inline corpus with the `tokenizers` library,
  * builds a 2-layer transformers model from a hand-written config (random weights,
    fixed seeds, rescaled so attention is not uniform and norms are not identity),
  * wraps it in sentence-transformers modules and saves it in the Hub file layout to
    semantik-core/tests/fixtures/models/<family>/,
  * writes <family>/reference.json with the texts, the token ids the model sees and
    the embeddings (or cross-encoder scores) sentence-transformers computes,
  * reloads the saved folder with SentenceTransformer / CrossEncoder (offline) and checks
    that it reproduces the reference.

Most families are rewritten after saving to the layout that nearly every model on the Hub
has (written by sentence-transformers 2.x-5.x): `sentence_transformers.models.*` module
types in modules.json, `max_seq_length` in sentence_bert_config.json, `pooling_mode_*`
flags in 1_Pooling/config.json, no Normalize folder, and config.json with the Hub's field
names (e.g. `rope_theta`, `global_attn_every_n_layers`). The `max` family keeps the files
exactly as sentence-transformers 6 writes them, so both layouts are covered. `static` is
saved by model2vec (potion-style layout) and `xlm_roberta_reranker` is a plain transformers
folder, as bge-reranker-base is.

Run by hand from the repository root (not by tests):

    .cache/bench-venv/bin/python scripts/make-parity-fixtures.py [family ...]

Requires torch, transformers (5.x), sentence-transformers (6.x), tokenizers and model2vec.
Re-running it reproduces byte-identical files.
"""

from __future__ import annotations

import os

# Never contact the Hub; keep tokenizer training and torch deterministic and modest.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["CODECARBON_LOG_LEVEL"] = "error"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

import argparse
import codecs
import contextlib
import hashlib
import io
import json
import logging
import math
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import safe_open
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import transformers
from transformers import PreTrainedTokenizerFast

import sentence_transformers
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.sentence_transformer import modules as st_modules

torch.set_num_threads(1)
warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
logging.getLogger("sentence_transformers").setLevel(logging.ERROR)

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_ROOT = REPO_ROOT / "semantik-core" / "tests" / "fixtures" / "models"

MAX_SEQ_LENGTH = 48
SEED = 20240607
# Batch size 1 vs. 16 must agree at least this well (cosine similarity).
MIN_BATCH_COSINE = 0.99999
# A family folder must stay well below 1 MB.
MAX_FOLDER_BYTES = 400 * 1024

# ---------------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------------

LONG_EN = (
    "Semantic search finds documents by meaning rather than by exact keywords. A query and every "
    "passage are mapped to dense vectors by the same embedding model, and the passages whose vectors "
    "are closest to the query vector, usually by cosine similarity, are returned first. Because the "
    "model has seen many paraphrases during training, a question about cheap flights can match a page "
    "about inexpensive airline tickets even though the two share no words at all. Long inputs are "
    "truncated to the maximum sequence length of the model, so only the beginning of this paragraph "
    "contributes to its embedding."
)
LONG_MIXED = (
    "Die Suchmaschine indexiert Absätze aus Handbüchern, Quelltexten und Notizen; "
    "la recherche sémantique compare des vecteurs plutôt que des mots; "
    "la búsqueda semántica funciona también en español; "
    "语义搜索把查询和文档映射到同一个向量空间，然后按照余弦相似度排序。"
    "検索エンジンは文書を小さな段落に分割してから埋め込みを計算します。"
    " Finally, every chunk keeps a pointer to its source file and line number so that results can be "
    "shown with context, highlighted, and opened in the editor with a single keystroke."
)

TEXTS: list[str] = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "semantic search with embeddings",
    "A",
    LONG_EN,
    LONG_MIXED,
    "Café crème brûlée à la française: naïve façade, jalapeño, Ångström, Straße, Øresund, Dvořák.",
    "東京は日本の首都です。",
    "我喜欢自然语言处理和语义搜索。",
    "한국어 문장도 검색할 수 있어야 합니다.",
    "مرحبا بالعالم، هذا نص عربي قصير.",
    "Привет, мир! Это короткий русский текст.",
    "Ελληνικά: Καλημέρα κόσμε",
    "हिन्दी में एक छोटा वाक्य",
    "Emoji test 😀🚀🔥 thumbs 👍🏽 family 👨‍👩‍👧",
    "Mixed 中文 and English in one sentence, with café and naïve.",
    "Zero\u200bwidth\u200bspace and a combining e\u0301 accent",
    "",
    "   ",
    "\t\n  \n ",
    "!!! ??? ... ,,, ;;; --- *** ((( ))) ###",
    " ".join(["hello"] * 60),
    "search search search",
    "UPPER CASE and lower case And MiXeD CaSe",
    "Numbers: 3.14159, 2,718, 1e-9, 42%, $100, #1, 2024-06-07",
    "URL https://example.com/path?q=semantic+search&lang=en and e-mail test@example.org",
    'fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!("{v:?}");\n}',
    "def add(a, b):\n    return a + b  # simple addition",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "  leading and trailing spaces  ",
]

QWEN3_QUERY_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"

RERANK_PAIRS: list[tuple[str, str]] = [
    ("What is the capital of France?", "Paris is the capital and most populous city of France."),
    ("What is the capital of France?", "The quick brown fox jumps over the lazy dog."),
    ("how does semantic search work", LONG_EN),
    ("how does semantic search work", "Bananas are rich in potassium."),
    ("东京在哪里？", "東京は日本の首都です。"),
    ("café crème", "Café crème brûlée à la française"),
    ("rust closure example", 'fn main() {\n    let f = |x: u32| x + 1;\n    println!("{}", f(1));\n}'),
    ("empty passage", ""),
    ("", "an empty query"),
    (LONG_EN, LONG_MIXED),
    ("emoji 😀", "Emoji test 😀🚀🔥"),
    ("SQL select users", "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;"),
]

# ---------------------------------------------------------------------------------------------
# Tokenizer training corpus (inline so that re-running reproduces the same vocabularies)
# ---------------------------------------------------------------------------------------------

CORPUS_TEXT = """
Semantik is an embeddable semantic search engine. It splits documents into passages, computes an
embedding vector for every passage with a small transformer model, and stores the vectors in an index.
A query is embedded with the same model and the nearest passages are returned, ranked by cosine
similarity. The index is kept on disk, loaded lazily and updated incrementally when files change.
Tokenizers turn text into tokens; WordPiece, Unigram and byte-level BPE are the most common models.
The encoder reads the token ids, adds position information, and applies several layers of attention
and feed-forward networks. Pooling turns the token vectors into one sentence vector: the first token,
the mean over all tokens, the maximum, or the last token for decoder models. Normalization scales the
vector to unit length so that the dot product equals the cosine similarity.
Search results show the file name, the line number, a short snippet and a relevance score. Users can
filter by path, language or date, and the engine can rerank the best candidates with a cross-encoder
that reads the query and the passage together and predicts a single relevance score.
The quick brown fox jumps over the lazy dog. What is the capital of France? Paris is the capital and
most populous city of France. Berlin is the capital of Germany, Madrid the capital of Spain and Rome
the capital of Italy. Hello world! This is a test of the tokenizer, with numbers such as 1, 2, 3, 10,
42, 100, 2024 and 3.14, with punctuation like commas, periods, question marks and exclamation marks.
Rust is a systems programming language focused on safety, speed and concurrency. Functions are
declared with fn, variables with let, and closures look like |x| x + 1. Vectors are created with
vec! and collected from iterators with collect. Errors are returned as Result values and handled with
the question mark operator. Python functions start with def and return values with return.
SQL queries select columns from tables where a condition holds and order the rows by a column.
fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!("{:?}", v); }
pub struct Index { passages: Vec<Passage>, vectors: Vec<f32> }
impl Index { pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, Error> { todo!() } }
def embed(texts, batch_size=32): return model.encode(texts, batch_size=batch_size)
SELECT id, name FROM users WHERE age >= 18 ORDER BY name;
La recherche sémantique trouve des documents par leur sens plutôt que par des mots exacts. Le café est
chaud, la crème brûlée est délicieuse, et la façade de la maison est très belle.
Die semantische Suche findet Dokumente nach ihrer Bedeutung. Die Straße ist lang, und das Wetter ist
schön. Größe, Übung, Äpfel und Öl sind deutsche Wörter mit Umlauten.
La búsqueda semántica encuentra documentos por su significado. El niño come jalapeños en la mañana.
A busca semântica encontra documentos pelo significado. São Paulo é uma cidade grande.
Семантический поиск находит документы по смыслу. Привет, мир! Это русский текст о поиске.
Η σημασιολογική αναζήτηση βρίσκει έγγραφα. Καλημέρα κόσμε, αυτό είναι ελληνικό κείμενο.
البحث الدلالي يجد المستندات حسب المعنى. مرحبا بالعالم، هذا نص عربي.
语义搜索根据含义查找文档。我喜欢自然语言处理。北京是中国的首都。搜索引擎把文档分成段落。
意味検索は意味によって文書を見つけます。東京は日本の首都です。日本語の文章を検索します。
의미 검색은 의미로 문서를 찾습니다. 서울은 한국의 수도입니다. 한국어 문장을 검색합니다.
सिमेंटिक खोज अर्थ के आधार पर दस्तावेज़ ढूंढती है। यह एक हिन्दी वाक्य है।
Emoji are common in chat messages: 😀 😂 👍 🚀 ❤️ 🔥 and they should not break the tokenizer.
"""


def zen_of_python() -> str:
    """The Zen of Python ships with every Python (`import this` prints it, hence the redirect)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def corpus_lines() -> list[str]:
    lines = [line.strip() for line in (CORPUS_TEXT + "\n" + zen_of_python()).splitlines()]
    return [line for line in lines if line]


# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------

QWEN_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _specials(tok: Tokenizer, names: list[str]) -> dict[str, int]:
    ids = {name: tok.token_to_id(name) for name in names}
    assert all(i is not None for i in ids.values()), ids
    return ids


def learn_wordpiece_vocab(pre: Tokenizer, size: int, specials: list[str]) -> dict[str, int]:
    """A WordPiece vocabulary learnt like `tokenizers`' WordPieceTrainer (BPE merges by pair count).

    The `tokenizers` trainer breaks ties between equally frequent pairs by hash-map order, which
    changes from run to run; here ties go to the lexicographically smallest pair, so the vocabulary
    is reproducible. `pre` supplies the normalizer and pre-tokenizer.
    """
    counts: Counter[str] = Counter()
    for line in corpus_lines():
        for word, _ in pre.pre_tokenizer.pre_tokenize_str(pre.normalizer.normalize_str(line)):
            counts[word] += 1
    words = [([w[0]] + ["##" + c for c in w[1:]], n) for w, n in sorted(counts.items())]
    vocab = list(specials)
    known = set(vocab)
    for symbol in sorted({sym for syms, _ in words for sym in syms}):
        if symbol not in known:
            vocab.append(symbol)
            known.add(symbol)
    while len(vocab) < size:
        pairs: Counter[tuple[str, str]] = Counter()
        for syms, n in words:
            for pair in zip(syms, syms[1:]):
                pairs[pair] += n
        if not pairs:
            break
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        merged = a + b[2:]
        new_words = []
        for syms, n in words:
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            new_words.append((out, n))
        words = new_words
        if merged not in known:
            vocab.append(merged)
            known.add(merged)
    return {token: i for i, token in enumerate(vocab)}


def bert_style_wordpiece(vocab_size: int, specials: list[str], unk_token: str) -> Tokenizer:
    """BertNormalizer (lowercase, strip accents, CJK split) + BertPreTokenizer + WordPiece("##")."""
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    pre = Tokenizer(models.WordPiece(vocab={unk_token: 0}, unk_token=unk_token))
    pre.normalizer = normalizer
    pre.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    vocab = learn_wordpiece_vocab(pre, vocab_size, specials)
    tok = Tokenizer(
        models.WordPiece(vocab=vocab, unk_token=unk_token, continuing_subword_prefix="##", max_input_chars_per_word=100)
    )
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials])
    return tok


def build_bert_wordpiece(vocab_size: int = 1000) -> tuple[Tokenizer, dict[str, Any]]:
    """bert-base-uncased style: BertNormalizer (lowercase, strip accents), BertPreTokenizer, WordPiece."""
    tok = bert_style_wordpiece(vocab_size, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], unk_token="[UNK]")
    ids = _specials(tok, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    wrapper_kwargs = dict(
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        do_lower_case=True,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    return tok, wrapper_kwargs


def build_mpnet_wordpiece(vocab_size: int = 1000) -> tuple[Tokenizer, dict[str, Any]]:
    """all-mpnet-base-v2 style: BERT normalizer/pre-tokenizer, WordPiece, `<s> $A </s>` template."""
    tok = bert_style_wordpiece(vocab_size - 1, ["<s>", "<pad>", "</s>", "<unk>", "[UNK]"], unk_token="[UNK]")
    # MPNet keeps <mask> as the last id of its vocabulary.
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    ids = _specials(tok, ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0 </s>:0",
        pair="<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    wrapper_kwargs = dict(
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="[UNK]",
        pad_token="<pad>",
        mask_token="<mask>",
        do_lower_case=True,
        model_input_names=["input_ids", "attention_mask"],
    )
    return tok, wrapper_kwargs


def build_xlmr_unigram(vocab_size: int = 1000) -> tuple[Tokenizer, dict[str, Any]]:
    """xlm-roberta-base style: SentencePiece Unigram with Metaspace, `<s> $A </s>` template.

    The real tokenizer uses a `Precompiled` normalizer (the SentencePiece charsmap, roughly NFKC);
    NFKC stands in for it here.
    """
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size - 1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        max_piece_length=12,
        n_sub_iterations=2,
        shrinking_factor=0.75,
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    # The trainer's EM sums in a thread-dependent order, so scores differ in the last bits between runs:
    # round them and sort by score (as SentencePiece vocabularies are) to make the file reproducible.
    # The trainer also appends every character of the corpus it did not keep, with scores stepping down
    # by 1e-4 in hash-map order; give that tail its characters in sorted order instead.
    raw = [(p, score) for p, score in json.loads(tok.to_str())["model"]["vocab"]]

    def steps_down(i: int) -> bool:  # raw[i] continues the 1e-4 staircase of single characters
        return len(raw[i][0]) == 1 and len(raw[i - 1][0]) == 1 and abs(raw[i - 1][1] - raw[i][1] - 1e-4) < 1e-7

    end = max(i for i in range(5, len(raw)) if steps_down(i)) + 1
    start = end - 1
    while start > 4 and steps_down(start):
        start -= 1
    tail_chars = sorted(p for p, _ in raw[start:end])
    raw = raw[:start] + [(c, score) for c, (_, score) in zip(tail_chars, raw[start:end])] + raw[end:]
    pieces = [(p, round(score, 6)) for p, score in raw]
    n_special = 4
    pieces = pieces[:n_special] + sorted(pieces[n_special:], key=lambda ps: (-ps[1], ps[0]))
    assert [p for p, _ in pieces[:n_special]] == ["<s>", "<pad>", "</s>", "<unk>"], pieces[:n_special]
    trained = tok
    tok = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tok.normalizer = trained.normalizer
    tok.pre_tokenizer = trained.pre_tokenizer
    tok.add_special_tokens([AddedToken(p, special=True) for p, _ in pieces[:n_special]])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    ids = _specials(tok, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    assert (ids["<s>"], ids["<pad>"], ids["</s>"], ids["<unk>"]) == (0, 1, 2, 3), ids
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0 </s>:0",
        pair="<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])],
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    wrapper_kwargs = dict(
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_input_names=["input_ids", "attention_mask"],
    )
    return tok, wrapper_kwargs


def build_qwen3_bpe(vocab_size: int = 900) -> tuple[Tokenizer, dict[str, Any]]:
    """Qwen3-Embedding style: NFC, regex Split + ByteLevel, byte-level BPE, appends <|endoftext|>."""
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 3,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]]
    )
    ids = _specials(tok, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <|endoftext|>:0",
        pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", ids["<|endoftext|>"])],
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    wrapper_kwargs = dict(
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        model_input_names=["input_ids", "attention_mask"],
    )
    return tok, wrapper_kwargs


def build_modernbert_bpe(vocab_size: int = 900) -> tuple[Tokenizer, dict[str, Any]]:
    """ModernBERT style: NFC, ByteLevel(use_regex) BPE, `[CLS] $A [SEP]`, special tokens at the end."""
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 5,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.add_special_tokens(
        [
            AddedToken("[UNK]", special=True),
            AddedToken("[CLS]", special=True),
            AddedToken("[SEP]", special=True),
            AddedToken("[PAD]", special=True),
            AddedToken("[MASK]", lstrip=True, special=True),
        ]
    )
    ids = _specials(tok, ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    wrapper_kwargs = dict(
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "attention_mask"],
    )
    return tok, wrapper_kwargs


def wrap_tokenizer(tok: Tokenizer, wrapper_kwargs: dict[str, Any]) -> PreTrainedTokenizerFast:
    tok.no_truncation()
    tok.no_padding()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=MAX_SEQ_LENGTH, clean_up_tokenization_spaces=False, **wrapper_kwargs
    )


def tokenizer_summary(tok: Tokenizer) -> dict[str, Any]:
    spec = json.loads(tok.to_str())
    added = [
        {"id": t["id"], "content": t["content"], "special": t["special"]} for t in spec.get("added_tokens", [])
    ]
    return {
        "model": spec["model"]["type"],
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "normalizer": (spec.get("normalizer") or {}).get("type"),
        "pre_tokenizer": (spec.get("pre_tokenizer") or {}).get("type"),
        "post_processor": (spec.get("post_processor") or {}).get("type"),
        "decoder": (spec.get("decoder") or {}).get("type"),
        "added_tokens": added,
    }


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def perturb_weights(model: torch.nn.Module, seed: int) -> None:
    """Re-draws every parameter so that the fixture is numerically demanding.

    transformers' default init (std 0.02, norm weight 1, bias 0) makes attention almost uniform
    and norms the identity, which would hide bugs in masks, positions and norms. Instead:
      * linear weights ~ N(0, 1/fan_in) (unit-gain), linear biases ~ N(0, 0.05^2),
      * embedding tables ~ N(0, 0.5^2) (MPNet's relative attention bias ~ N(0, 1)),
      * LayerNorm/RMSNorm weights ~ 1 + N(0, 0.1^2), their biases ~ N(0, 0.05^2).
    Parameters are drawn in module-name order from one seeded generator.
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(shape: torch.Size, std: float, mean: float = 0.0) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean

    with torch.no_grad():
        seen: set[int] = set()
        for name, module in sorted(model.named_modules(), key=lambda kv: kv[0]):
            params = sorted(module.named_parameters(recurse=False))
            cls = type(module).__name__
            for pname, p in params:
                if id(p) in seen:
                    continue
                seen.add(id(p))
                if isinstance(module, torch.nn.Linear):
                    std = 1.0 / math.sqrt(p.shape[1]) if pname == "weight" else 0.05
                    p.copy_(normal(p.shape, std))
                elif isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
                    p.copy_(normal(p.shape, 1.0 if name.endswith("relative_attention_bias") else 0.5))
                elif isinstance(module, torch.nn.LayerNorm) or cls.endswith("RMSNorm"):
                    p.copy_(normal(p.shape, 0.1, mean=1.0) if pname == "weight" else normal(p.shape, 0.05))
                else:
                    raise RuntimeError(f"unhandled parameter {name}.{pname} of {cls}")


# ---------------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------------


class Family:
    def __init__(
        self,
        name: str,
        tokenizer: Callable[[], tuple[Tokenizer, dict[str, Any]]],
        config: Callable[[Tokenizer], dict[str, Any]],
        pooling: str | None,
        normalize: bool,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        dense: tuple[int, int] | None = None,
        legacy_layout: bool = True,
        kind: str = "transformer",
        note: str = "",
    ) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.config = config
        self.pooling = pooling
        self.normalize = normalize
        self.prompts = prompts
        self.default_prompt_name = default_prompt_name
        self.dense = dense
        self.legacy_layout = legacy_layout
        self.kind = kind
        self.note = note

    @property
    def seed(self) -> int:
        return SEED + int(hashlib.sha256(self.name.encode()).hexdigest()[:6], 16)


def _ids(tok: Tokenizer, *names: str) -> list[int]:
    return [tok.token_to_id(n) for n in names]


def bert_config(tok: Tokenizer) -> dict[str, Any]:
    pad, cls, sep = _ids(tok, "[PAD]", "[CLS]", "[SEP]")
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": pad,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def xlmr_config(tok: Tokenizer, classifier: bool = False) -> dict[str, Any]:
    bos, pad, eos = _ids(tok, "<s>", "<pad>", "</s>")
    cfg = {
        "architectures": ["XLMRobertaForSequenceClassification" if classifier else "XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # padding_idx (1) + 1 + MAX_SEQ_LENGTH, like 514 = 2 + 512 for xlm-roberta-base.
        "max_position_embeddings": MAX_SEQ_LENGTH + 2,
        "type_vocab_size": 1,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-05,
        "bos_token_id": bos,
        "pad_token_id": pad,
        "eos_token_id": eos,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "torch_dtype": "float32",
    }
    if classifier:
        cfg["id2label"] = {"0": "LABEL_0"}
        cfg["label2id"] = {"LABEL_0": 0}
    return cfg


def qwen3_config(tok: Tokenizer) -> dict[str, Any]:
    eot, im_end = _ids(tok, "<|endoftext|>", "<|im_end|>")
    return {
        "architectures": ["Qwen3Model"],
        "model_type": "qwen3",
        # Like Qwen3 (151669 tokens, vocab_size 151936) the embedding table has unused rows.
        "vocab_size": 64 * math.ceil(tok.get_vocab_size() / 64),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "hidden_act": "silu",
        "max_position_embeddings": 128,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-06,
        "use_cache": True,
        "tie_word_embeddings": False,
        "rope_theta": 1000000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_sliding_window": False,
        "sliding_window": None,
        "max_window_layers": 2,
        "bos_token_id": eot,
        "eos_token_id": im_end,
        "torch_dtype": "float32",
    }


def nomic_config(tok: Tokenizer) -> dict[str, Any]:
    (pad,) = _ids(tok, "[PAD]")
    return {
        "architectures": ["NomicBertModel"],
        "model_type": "nomic_bert",
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "hidden_act": "silu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 128,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": pad,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000.0},
        "torch_dtype": "float32",
    }


def modernbert_config(tok: Tokenizer) -> dict[str, Any]:
    unk, cls, sep, pad, mask = _ids(tok, "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")
    return {
        "architectures": ["ModernBertModel"],
        "model_type": "modernbert",
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": 32,
        "intermediate_size": 48,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "hidden_activation": "gelu",
        "max_position_embeddings": 128,
        "initializer_range": 0.02,
        "initializer_cutoff_factor": 2.0,
        "norm_eps": 1e-05,
        "norm_bias": False,
        "pad_token_id": pad,
        "eos_token_id": sep,
        "bos_token_id": cls,
        "cls_token_id": cls,
        "sep_token_id": sep,
        "global_rope_theta": 160000.0,
        "local_rope_theta": 10000.0,
        "attention_bias": False,
        "attention_dropout": 0.0,
        # Layer 0 global, layer 1 local (i % n != 0); window 16 => |i - j| <= 8.
        "global_attn_every_n_layers": 2,
        "local_attention": 16,
        "embedding_dropout": 0.0,
        "mlp_bias": False,
        "mlp_dropout": 0.0,
        "decoder_bias": True,
        "classifier_pooling": "mean",
        "classifier_dropout": 0.0,
        "classifier_bias": False,
        "classifier_activation": "gelu",
        "deterministic_flash_attn": False,
        "sparse_prediction": False,
        "sparse_pred_ignore_index": -100,
        "torch_dtype": "float32",
    }


def mpnet_config(tok: Tokenizer) -> dict[str, Any]:
    bos, pad, eos = _ids(tok, "<s>", "<pad>", "</s>")
    return {
        "architectures": ["MPNetModel"],
        "model_type": "mpnet",
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # padding_idx (1) + 1 + MAX_SEQ_LENGTH, like 514 for mpnet-base.
        "max_position_embeddings": MAX_SEQ_LENGTH + 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-05,
        "relative_attention_num_buckets": 32,
        "bos_token_id": bos,
        "pad_token_id": pad,
        "eos_token_id": eos,
        "torch_dtype": "float32",
    }


def gte_config(tok: Tokenizer) -> dict[str, Any]:
    (pad,) = _ids(tok, "[PAD]")
    return {
        "architectures": ["GteModel"],
        "model_type": "gte",
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 128,
        # gte-base-en-v1.5 has no token type embeddings (type_vocab_size 0).
        "type_vocab_size": 0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": pad,
        "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
        "torch_dtype": "float32",
    }


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family(
            "bert",
            build_bert_wordpiece,
            bert_config,
            pooling="cls",
            normalize=True,
            dense=(32, 24),
            note="BertModel, CLS pooling, Dense(32->24, tanh), Normalize",
        ),
        Family(
            "xlm_roberta",
            build_xlmr_unigram,
            xlmr_config,
            pooling="mean",
            normalize=True,
            prompts={"query": "query: ", "passage": "passage: "},
            note="XLMRobertaModel, mean pooling, multilingual-e5 prompts, Normalize",
        ),
        Family(
            "qwen3",
            build_qwen3_bpe,
            qwen3_config,
            pooling="lasttoken",
            normalize=True,
            prompts={"query": QWEN3_QUERY_PROMPT},
            default_prompt_name=None,
            note="Qwen3Model (GQA 4/2, head_dim 16), last-token pooling, left padding, Normalize",
        ),
        Family(
            "nomic_bert",
            build_bert_wordpiece,
            nomic_config,
            pooling="mean",
            normalize=True,
            prompts={"query": "search_query: ", "document": "search_document: "},
            note="transformers-native NomicBertModel (rotary, SwiGLU), mean pooling, Normalize",
        ),
        Family(
            "modernbert",
            build_modernbert_bpe,
            modernbert_config,
            pooling="mean",
            normalize=False,
            note="ModernBertModel, layer 0 global / layer 1 local (window 16), mean pooling",
        ),
        Family(
            "mpnet",
            build_mpnet_wordpiece,
            mpnet_config,
            pooling="mean_sqrt_len_tokens",
            normalize=True,
            note="MPNetModel (relative position buckets), mean_sqrt_len pooling, Normalize",
        ),
        Family(
            "gte",
            build_bert_wordpiece,
            gte_config,
            pooling="cls",
            normalize=True,
            note="transformers-native GteModel (gte-base-en-v1.5 'NewModel'), CLS pooling, Normalize",
        ),
        Family(
            "static",
            build_bert_wordpiece,
            lambda tok: {},
            pooling=None,
            normalize=True,
            kind="static",
            note="model2vec StaticModel layout (potion-style), loaded by ST as StaticEmbedding + Normalize",
        ),
        Family(
            "weightedmean",
            build_bert_wordpiece,
            bert_config,
            pooling="weightedmean",
            normalize=False,
            note="BertModel, weighted-mean pooling",
        ),
        Family(
            "max",
            build_mpnet_wordpiece,
            mpnet_config,
            pooling="max",
            normalize=False,
            legacy_layout=False,
            note="MPNetModel, max pooling; files exactly as sentence-transformers 6 saves them",
        ),
        Family(
            "xlm_roberta_reranker",
            build_xlmr_unigram,
            lambda tok: xlmr_config(tok, classifier=True),
            pooling=None,
            normalize=False,
            kind="cross_encoder",
            note="XLMRobertaForSequenceClassification (num_labels 1) CrossEncoder, like bge-reranker-base",
        ),
    ]
}

CONFIG_CLASSES = {
    "bert": (transformers.BertConfig, transformers.BertModel),
    "xlm-roberta": (transformers.XLMRobertaConfig, transformers.XLMRobertaModel),
    "qwen3": (transformers.Qwen3Config, transformers.Qwen3Model),
    "nomic_bert": (transformers.NomicBertConfig, transformers.NomicBertModel),
    "modernbert": (transformers.ModernBertConfig, transformers.ModernBertModel),
    "mpnet": (transformers.MPNetConfig, transformers.MPNetModel),
    "gte": (transformers.GteConfig, transformers.GteModel),
}

LEGACY_MODULE_TYPES = {
    "Transformer": "sentence_transformers.models.Transformer",
    "Pooling": "sentence_transformers.models.Pooling",
    "Dense": "sentence_transformers.models.Dense",
    "Normalize": "sentence_transformers.models.Normalize",
    "StaticEmbedding": "sentence_transformers.models.StaticEmbedding",
}

# ---------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------


def round7(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError(f"non-finite value {x}")
    return float(f"{x:.7g}")


def rounded(array: np.ndarray | torch.Tensor) -> list:
    a = np.asarray(array.detach().cpu() if isinstance(array, torch.Tensor) else array, dtype=np.float64)
    if a.ndim == 0:
        return round7(float(a))
    return [rounded(row) for row in a] if a.ndim > 1 else [round7(float(v)) for v in a]


def dump_json(obj: Any, path: Path) -> None:
    """JSON with 1-space indentation but lists of scalars on one line (compact, diff-friendly)."""

    def enc(o: Any, level: int) -> str:
        pad = " " * level
        if isinstance(o, dict):
            if all(not isinstance(v, (list, tuple, dict)) for v in o.values()):
                return json.dumps(o, ensure_ascii=False)
            items = [f'{pad} {json.dumps(k, ensure_ascii=False)}: {enc(v, level + 1)}' for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, (list, tuple)):
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in o):
                return json.dumps(list(o), ensure_ascii=False)
            if not o:
                return "[]"
            items = [pad + " " + enc(v, level + 1) for v in o]
            return "[\n" + ",\n".join(items) + "\n" + pad + "]"
        return json.dumps(o, ensure_ascii=False)

    path.write_text(enc(obj, 0) + "\n", encoding="utf-8")


def write_json_file(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    dot = (a * b).sum(axis=1)
    out = np.ones(len(a))
    both = (na > 0) & (nb > 0)
    out[both] = dot[both] / (na[both] * nb[both])
    # Zero vectors (e.g. the empty text for the static model) agree only with zero vectors.
    out[~both] = np.where((na[~both] == 0) & (nb[~both] == 0), 1.0, 0.0)
    return out


def check_close(label: str, a: np.ndarray, b: np.ndarray, problems: list[str]) -> float:
    """Appends a problem when a row pair's cosine similarity is below MIN_BATCH_COSINE."""
    min_cos = MIN_BATCH_COSINE
    cos = cosine_rows(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    worst = float(cos.min())
    if worst < min_cos:
        bad = [i for i, c in enumerate(cos) if c < min_cos]
        problems.append(f"{label}: min cosine {worst:.8f} < {min_cos} for text indices {bad}")
    return worst


def folder_listing(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "reference.json"
    }


def safetensors_names(path: Path) -> list[str]:
    with safe_open(str(path), framework="pt") as f:
        return sorted(f.keys())


# ---------------------------------------------------------------------------------------------
# Layout rewriting
# ---------------------------------------------------------------------------------------------


def rewrite_legacy_layout(folder: Path, hub_config: dict[str, Any] | None) -> None:
    """Rewrites the ST 6 files to the layout of typical Hub models (ST 2.x-5.x)."""
    modules = json.loads((folder / "modules.json").read_text()) if (folder / "modules.json").exists() else []
    for m in modules:
        short = m["type"].rsplit(".", 1)[-1]
        m["type"] = LEGACY_MODULE_TYPES[short]
    if modules:
        write_json_file(folder / "modules.json", modules)

    if (folder / "sentence_bert_config.json").exists():
        legacy_st_config = {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}
        write_json_file(folder / "sentence_bert_config.json", legacy_st_config)

    for m in modules:
        sub = folder / m["path"]
        short = m["type"].rsplit(".", 1)[-1]
        if short == "Pooling":
            cfg = json.loads((sub / "config.json").read_text())
            mode = cfg["pooling_mode"]
            legacy = {
                "word_embedding_dimension": cfg["embedding_dimension"],
                "pooling_mode_cls_token": mode == "cls",
                "pooling_mode_mean_tokens": mode == "mean",
                "pooling_mode_max_tokens": mode == "max",
                "pooling_mode_mean_sqrt_len_tokens": mode == "mean_sqrt_len_tokens",
                "pooling_mode_weightedmean_tokens": mode == "weightedmean",
                "pooling_mode_lasttoken": mode == "lasttoken",
                "include_prompt": cfg["include_prompt"],
            }
            write_json_file(sub / "config.json", legacy)
        elif short == "Dense":
            cfg = json.loads((sub / "config.json").read_text())
            legacy = {k: cfg[k] for k in ("in_features", "out_features", "bias", "activation_function")}
            write_json_file(sub / "config.json", legacy)
        elif short == "Normalize" and (sub / "config.json").exists():
            # Before v6 Normalize saved nothing, so Hub repos have no Normalize folder at all.
            (sub / "config.json").unlink()

    tok_cfg_path = folder / "tokenizer_config.json"
    if tok_cfg_path.exists():
        tok_cfg = json.loads(tok_cfg_path.read_text())
        # Loader arguments that leak into the saved file; `PreTrainedTokenizerFast` is what transformers 4 and 5
        # both load straight from tokenizer.json.
        for key in ("is_local", "local_files_only", "backend"):
            tok_cfg.pop(key, None)
        tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        write_json_file(tok_cfg_path, dict(sorted(tok_cfg.items())))

    if hub_config is not None:
        saved = json.loads((folder / "config.json").read_text())
        merged = dict(hub_config)
        # Keep what sentence-transformers adds (e.g. the cross-encoder activation) and the version.
        for key in ("sentence_transformers", "transformers_version"):
            if key in saved:
                merged[key] = saved[key]
        write_json_file(folder / "config.json", merged)


def clean_folder(folder: Path) -> None:
    for pattern in ("*.bin", "*.pt", "*.pth", "*.ckpt", "README.md"):
        for p in folder.rglob(pattern):
            p.unlink()
    # model2vec references a 1_Normalize folder it does not create; sentence-transformers writes empty
    # folders for Pooling-less modules. Empty folders do not survive git, so drop them.
    for p in sorted(folder.rglob("*"), reverse=True):
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def build_transformer_dir(family: Family, tmp: Path) -> tuple[Path, dict[str, Any], Tokenizer]:
    """Saves tokenizer + random model with save_pretrained into tmp/hf and returns that path."""
    tok, wrapper_kwargs = family.tokenizer()
    hub_config = family.config(tok)
    assert tok.get_vocab_size() <= hub_config["vocab_size"], (tok.get_vocab_size(), hub_config["vocab_size"])

    torch.manual_seed(family.seed)
    if family.kind == "cross_encoder":
        config = transformers.XLMRobertaConfig(**hub_config)
        model = transformers.XLMRobertaForSequenceClassification(config)
    else:
        config_cls, model_cls = CONFIG_CLASSES[hub_config["model_type"]]
        config = config_cls(**hub_config)
        # Keep the default heads (e.g. BERT's pooler): AutoModel, which sentence-transformers uses to load the
        # folder, builds them too, and real checkpoints contain their weights.
        model = model_cls(config)
    perturb_weights(model, family.seed)
    model.eval()

    hf_dir = tmp / "hf"
    model.save_pretrained(hf_dir, safe_serialization=True)
    wrap_tokenizer(tok, wrapper_kwargs).save_pretrained(hf_dir)
    return hf_dir, hub_config, tok, model.state_dict()


def check_loaded_weights(label: str, expected: dict[str, torch.Tensor], loaded: torch.nn.Module) -> None:
    """The model sentence-transformers loaded must hold exactly the weights that were generated."""
    got = loaded.state_dict()
    if set(got) != set(expected):
        raise RuntimeError(f"{label}: loaded parameters differ: {sorted(set(got) ^ set(expected))}")
    for key, value in expected.items():
        if not torch.equal(value, got[key]):
            raise RuntimeError(f"{label}: loaded parameter {key} differs from the generated one")


def build_sentence_transformer(family: Family, tmp: Path) -> tuple[SentenceTransformer, dict[str, Any], Tokenizer]:
    hf_dir, hub_config, tok, state = build_transformer_dir(family, tmp)
    transformer = st_modules.Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH)
    check_loaded_weights(family.name, state, transformer.auto_model)
    dim = transformer.get_embedding_dimension()
    mods: list[torch.nn.Module] = [transformer, st_modules.Pooling(dim, pooling_mode=family.pooling)]
    if family.dense is not None:
        assert family.dense[0] == dim
        torch.manual_seed(family.seed + 1)
        dense = st_modules.Dense(family.dense[0], family.dense[1], activation_function=torch.nn.Tanh())
        perturb_weights(dense, family.seed + 1)
        mods.append(dense)
    if family.normalize:
        mods.append(st_modules.Normalize())
    model = SentenceTransformer(
        modules=mods, device="cpu", prompts=family.prompts, default_prompt_name=family.default_prompt_name
    )
    model.eval()
    return model, hub_config, tok


def build_static(family: Family, out: Path) -> Tokenizer:
    from model2vec import StaticModel

    tok, _ = family.tokenizer()
    tok.no_truncation()
    tok.no_padding()
    gen = torch.Generator().manual_seed(family.seed)
    vectors = (torch.randn((tok.get_vocab_size(), 32), generator=gen) * 0.5).numpy().astype(np.float32)
    static = StaticModel(vectors=vectors, tokenizer=tok, normalize=True, max_length=None)
    static.save_pretrained(out)
    return tok


# ---------------------------------------------------------------------------------------------
# Reference computation
# ---------------------------------------------------------------------------------------------


def token_ids_for(model: SentenceTransformer, texts: list[str], prompt: str | None = None) -> list[list[int]]:
    out = []
    for text in texts:
        features = model.preprocess([text], prompt=prompt)
        ids = features["input_ids"]
        out.append([int(i) for i in ids.reshape(-1).tolist()])
    return out


DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


def document_prompt_name(model: SentenceTransformer) -> str | None:
    """The prompt name `encode_document` resolves (same order as sentence-transformers)."""
    return next((k for k in DOCUMENT_PROMPT_NAMES if k in model.prompts), None)


def encode_all(model: SentenceTransformer) -> dict[str, np.ndarray]:
    """Embeddings without prompt, with every non-empty prompt, and via encode_query/encode_document.

    Every entry is computed with batch_size 1 and batch_size 16 (suffix `_batched`).
    """
    prompts = {k: v for k, v in model.prompts.items() if v}
    runs: dict[str, Callable[[int], np.ndarray]] = {
        "embeddings": lambda bs: model.encode(TEXTS, batch_size=bs, convert_to_numpy=True),
    }
    if "query" in prompts:
        runs["query_embeddings"] = lambda bs: model.encode_query(TEXTS, batch_size=bs, convert_to_numpy=True)
    if any(k in prompts for k in DOCUMENT_PROMPT_NAMES):
        runs["document_embeddings"] = lambda bs: model.encode_document(TEXTS, batch_size=bs, convert_to_numpy=True)
    for name in sorted(prompts):
        if name != "query" and name != document_prompt_name(model):
            runs[f"{name}_embeddings"] = lambda bs, name=name: model.encode(
                TEXTS, prompt_name=name, batch_size=bs, convert_to_numpy=True
            )
    res: dict[str, np.ndarray] = {}
    for key, run in runs.items():
        res[key] = run(1)
        res[key + "_batched"] = run(16)
    return res


def make_sentence_transformer_family(family: Family, out: Path, problems: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        if family.kind == "static":
            tok = build_static(family, out)
            hub_config = None
            model = SentenceTransformer(str(out), device="cpu", local_files_only=True)
        else:
            model, hub_config, tok = build_sentence_transformer(family, tmp)
            model.save(str(out), create_model_card=False)
        results = encode_all(model)
        prompts = {k: v for k, v in model.prompts.items() if v}
        doc_name = document_prompt_name(model)
        token_ids = token_ids_for(model, TEXTS)
        prompt_token_ids = {name: token_ids_for(model, TEXTS, prompt=text) for name, text in sorted(prompts.items())}
        padding_side = None if family.kind == "static" else model[0].tokenizer.padding_side

    for key in [k for k in results if k.endswith("_batched")]:
        base = key[: -len("_batched")]
        worst = check_close(f"{family.name} {base}: batch 1 vs 16", results[base], results[key], problems)
        print(f"  {base}: batch1 vs batch16 min cosine {worst:.9f}")

    if family.kind != "static" and family.legacy_layout:
        rewrite_legacy_layout(out, hub_config)
    clean_folder(out)

    # Reload offline from the written folder and compare.
    reloaded = SentenceTransformer(str(out), device="cpu", local_files_only=True)
    reloaded.eval()
    again = encode_all(reloaded)
    if set(again) != set(results):
        problems.append(f"{family.name}: reloaded model produces {sorted(again)} instead of {sorted(results)}")
    for key in results:
        if key in again:
            diff = float(np.abs(np.asarray(results[key]) - np.asarray(again[key])).max())
            if diff > 1e-6:
                problems.append(f"{family.name} {key}: reloaded model differs by {diff:.3g}")
    if token_ids_for(reloaded, TEXTS) != token_ids:
        problems.append(f"{family.name}: reloaded tokenizer gives different token ids")
    if reloaded.prompts != model.prompts:
        problems.append(f"{family.name}: reloaded prompts {reloaded.prompts} != {model.prompts}")
    if family.kind != "static" and reloaded.max_seq_length != MAX_SEQ_LENGTH:
        problems.append(f"{family.name}: reloaded max_seq_length {reloaded.max_seq_length}")

    ref: dict[str, Any] = {
        "family": family.name,
        "description": family.note,
        "generator": "scripts/make-parity-fixtures.py",
        "versions": {
            "torch": torch.__version__.split("+")[0],
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "architecture": hub_config["model_type"] if hub_config else "static_embedding",
        "layout": "model2vec" if family.kind == "static" else ("legacy" if family.legacy_layout else "st6"),
        "max_seq_length": None if family.kind == "static" else MAX_SEQ_LENGTH,
        "pooling": family.pooling,
        "normalize": family.normalize,
        "dense": None
        if family.dense is None
        else {"in": family.dense[0], "out": family.dense[1], "activation": "tanh"},
        "prompts": prompts,
        "default_prompt_name": family.default_prompt_name,
        "padding_side": padding_side,
        "tokenizer": tokenizer_summary(tok),
        "embedding_dim": int(np.asarray(results["embeddings"]).shape[1]),
        "texts": TEXTS,
        "token_ids": token_ids,
    }
    for name, ids in prompt_token_ids.items():
        ref[f"{name}_token_ids"] = ids
    if "document_embeddings" in results:
        # encode_document resolves the first of document/passage/corpus present in model.prompts, and
        # sentence-transformers 6 always has a "document" entry (default ""), see the xlm_roberta family.
        ref["document_prompt_name"] = doc_name
        ref["document_prompt"] = model.prompts.get(doc_name) or ""
    for key in sorted(k for k in results if not k.endswith("_batched")):
        ref[key] = rounded(results[key])
    ref["embeddings_batched"] = rounded(results["embeddings_batched"])
    if family.kind == "static":
        from model2vec import StaticModel

        m2v = StaticModel.from_pretrained(str(out), force_download=False)
        ref["model2vec_embeddings"] = rounded(m2v.encode(TEXTS))
        ref["model2vec_note"] = (
            "model2vec's own StaticModel.encode drops [UNK] ids before averaging; sentence-transformers' "
            "StaticEmbedding keeps them. `embeddings` is the sentence-transformers result."
        )
    return ref


def make_cross_encoder_family(family: Family, out: Path, problems: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        hf_dir, hub_config, tok, state = build_transformer_dir(family, tmp)
        model = CrossEncoder(str(hf_dir), device="cpu", max_length=MAX_SEQ_LENGTH)
        check_loaded_weights(family.name, state, model[0].auto_model)
        model.eval()
        model.save(str(out), create_model_card=False)

    def run(m: CrossEncoder) -> dict[str, np.ndarray]:
        return {
            "scores": m.predict(RERANK_PAIRS, batch_size=1, convert_to_numpy=True),
            "scores_batched": m.predict(RERANK_PAIRS, batch_size=16, convert_to_numpy=True),
            "logits": m.predict(RERANK_PAIRS, batch_size=1, activation_fn=torch.nn.Identity(), convert_to_numpy=True),
            "logits_batched": m.predict(
                RERANK_PAIRS, batch_size=16, activation_fn=torch.nn.Identity(), convert_to_numpy=True
            ),
        }

    results = run(model)
    activation = sentence_transformers.util.fullname(model.activation_fn)
    for base in ("scores", "logits"):
        diff = float(np.abs(results[base] - results[base + "_batched"]).max())
        print(f"  {base}: batch1 vs batch16 max abs diff {diff:.3g}")
        if diff > 1e-5:
            problems.append(f"{family.name} {base}: batch 1 vs 16 differ by {diff:.3g}")
    token_ids = []
    for pair in RERANK_PAIRS:
        features = model.preprocess([pair])
        token_ids.append([int(i) for i in features["input_ids"].reshape(-1).tolist()])

    # bge-reranker-base layout: the plain transformers folder, no sentence-transformers files. CrossEncoder
    # then loads it as a sequence-classification Transformer with the default Sigmoid (num_labels == 1).
    for name in ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        (out / name).unlink(missing_ok=True)
    rewrite_legacy_layout(out, hub_config)
    clean_folder(out)

    reloaded = CrossEncoder(str(out), device="cpu", local_files_only=True)
    reloaded.eval()
    again = run(reloaded)
    for key in results:
        diff = float(np.abs(results[key] - again[key]).max())
        if diff > 1e-6:
            problems.append(f"{family.name} {key}: reloaded model differs by {diff:.3g}")
    if sentence_transformers.util.fullname(reloaded.activation_fn) != activation:
        problems.append(f"{family.name}: reloaded activation {reloaded.activation_fn}")

    return {
        "family": family.name,
        "description": family.note,
        "generator": "scripts/make-parity-fixtures.py",
        "versions": {
            "torch": torch.__version__.split("+")[0],
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "architecture": hub_config["model_type"],
        "layout": "hf_sequence_classification",
        "max_seq_length": MAX_SEQ_LENGTH,
        "truncation": "longest_first",
        "activation_fn": activation,
        "tokenizer": tokenizer_summary(tok),
        "pairs": [list(p) for p in RERANK_PAIRS],
        "token_ids": token_ids,
        "scores": rounded(results["scores"]),
        "scores_batched": rounded(results["scores_batched"]),
        "logits": rounded(results["logits"]),
        "logits_batched": rounded(results["logits_batched"]),
    }


def make_family(family: Family) -> list[str]:
    out = OUT_ROOT / family.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    problems: list[str] = []
    print(f"[{family.name}] {family.note}")
    if family.kind == "cross_encoder":
        ref = make_cross_encoder_family(family, out, problems)
    else:
        ref = make_sentence_transformer_family(family, out, problems)
    files = folder_listing(out)
    ref["files"] = files
    weights = out / "model.safetensors"
    if weights.exists():
        ref["safetensors_keys"] = safetensors_names(weights)
    dump_json(ref, out / "reference.json")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"  {len(files) + 1} files, {total / 1024:.1f} KiB")
    if total > MAX_FOLDER_BYTES:
        problems.append(f"{family.name}: folder is {total} bytes (> {MAX_FOLDER_BYTES})")
    for p in problems:
        print(f"  PROBLEM: {p}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "families", nargs="*", metavar="family", help=f"families to build (default: all of {', '.join(FAMILIES)})"
    )
    args = parser.parse_args()
    unknown = [n for n in args.families if n not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    names = args.families or list(FAMILIES)
    problems: list[str] = []
    for name in names:
        problems += make_family(FAMILIES[name])
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print("\nall families OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

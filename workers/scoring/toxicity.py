"""Toxicity scores through Detoxify, with evasion folding and windows over long comments.

The model is loaded with ``detoxify.Detoxify(checkpoint=..., huggingface_config_path=...)`` from what
``workers.scoring.modelstore`` resolves; we then use the instance's ``model`` and ``tokenizer`` for our
own batching: every text is folded (``normalize.fold``), cut into overlapping token windows of
``settings.max_tokens`` (stride 3/4 of that), windows are batched by length with dynamic padding, and
each label takes the maximum over a text's windows, so an insult after the model's token limit still
counts. A text has at most ``MAX_WINDOWS`` windows (its start and its end), so its cost is bounded.
``score`` is blocking; call it from one executor thread.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.core.normalize import fold
from service.core.settings import Settings
from workers.scoring import modelstore
from workers.scoring.config import ToxicityConfig
from workers.scoring.ngram import NgramBlend, load_blend

# Per text, at most: the first MAX_WINDOWS - 1 windows and the last one (~500 tokens, ~2,000 characters
# of ordinary text, at the default 128 tokens). Bounded cost (issue 17): a 10,000-character body scored
# 44-96 windows (0.6-1 s of one core) and twenty of them held every site's comments back for minutes; now
# it costs at most 4 windows, ~7 times a one-window comment. Text past them is still read by the spam
# scorer and the site rules, which see the whole body; the README says what is not scored.
MAX_WINDOWS = 4
# Padded tokens per forward pass. Small passes keep the activations in the CPU's caches. On the 2-core
# machine, batches of 256 ``make bench`` comments: 1 torch thread 400-429/s in passes of 4,096 tokens,
# 553-569/s in passes of 256; 2 threads 668-707/s and 793-813/s (384-1,024 within a few per cent).
# A BERT-base-shaped model (the official ``original``/``unbiased`` architecture, int8, 1 thread, comments
# per CPU second, ``scripts/pass_budget.py``) is best at 256 too: 113.5/117.1/109.3/93.6/70.5 for passes
# of 128/256/512/1,024/4,096 tokens.
# Dev ROC-AUCs move by up to 0.007 with the passes' make-up (int8 scales activations per pass).
BATCH_TOKENS = 256
MAX_BATCH = 64
# Embedding tables of vocabularies this large are stored int8 too (README "Languages": worker memory).
LARGE_VOCAB = 100_000
QUANTIZE = True  # dynamic int8 (per-channel) Linear layers; see ``quantize_linear`` for the measured cost


def _checkpoint_for(checkpoint: Path, config_dir: Path) -> Path | io.BytesIO:
    """Detoxify always reads ``config.arch.args.model_type`` with ``from_pretrained``; offline, that has
    to be a local folder. Built-in assemblies already point it at their ``config/``; for other folders
    (official checkpoints name a hub model such as ``bert-base-uncased``) it is re-pointed in memory."""
    manifest = checkpoint.parent / modelstore.MANIFEST
    if manifest.is_file():
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("model_type")
        if recorded == str(config_dir.resolve()):
            return checkpoint
    import torch

    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    loaded["config"]["arch"]["args"]["model_type"] = str(config_dir.resolve())
    buffer = io.BytesIO()
    torch.save(loaded, buffer)
    buffer.seek(0)
    return buffer


def load_detoxify(checkpoint: Path, config_dir: Path) -> Any:
    """A ``detoxify.Detoxify`` instance for a resolved ``(checkpoint, config_dir)`` pair, offline."""
    from detoxify import Detoxify
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar on stderr, outside the JSON logs
    source = _checkpoint_for(checkpoint, config_dir)
    return Detoxify(checkpoint=source, huggingface_config_path=str(config_dir), device="cpu")


def _version_of(checkpoint: Path) -> str:
    manifest = checkpoint.parent / modelstore.MANIFEST
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("source_version"):
            return str(data["source_version"])
        sha = data.get("files", {}).get(modelstore.CHECKPOINT)
        if sha:
            return str(sha)[:12]
    digest = hashlib.sha256()
    with checkpoint.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def quantize_linear(model: Any) -> Any:
    """Dynamic int8 quantisation of every ``Linear`` layer, weights quantised per output channel, in place.

    Measured on the built-in model (scripts/eval_toxicity.py): ROC-AUC moves by <= 0.006 on UCC val and
    OLID test while CPU cost per comment drops ~3.5x. Per-tensor weights cost 0.011-0.016 AUC instead.
    A model with a vocabulary of ``LARGE_VOCAB`` pieces or more (``commentmod-e5``'s 250k XLM-R pieces:
    384 MB of fp32 word embeddings) also gets its embedding tables stored as int8 with a scale per row.
    """
    import torch
    from torch.ao import quantization

    spec = {torch.nn.Linear: quantization.per_channel_dynamic_qconfig}
    with warnings.catch_warnings():
        # torch deprecates creating quantised tensors by hand; the API used here still builds them, and
        # the notice (a log line per process start) asks nothing of operators.
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        if int(getattr(model.config, "vocab_size", 0)) >= LARGE_VOCAB:
            quantize_embedding(model)
        # in place: a copy would hold the fp32 and int8 models at once (the worker's peak memory at start)
        return quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def quantize_embedding(model: Any) -> None:
    """Store ``model``'s word embeddings as 8-bit rows with a float scale and offset each (the result of
    ``torch.ao.nn.quantized.Embedding.from_float``), dropping the fp32 table before the 8-bit one is
    packed: ``from_float`` held both plus two more 8-bit copies, 283 MB over the loaded model at the
    worker's start for ``commentmod-e5`` (its peak resident memory), where this holds one 8-bit copy."""
    import torch
    from torch.ao import quantization

    words = model.get_input_embeddings()
    rows, dim = words.weight.shape
    observer = quantization.float_qparams_weight_only_qconfig.weight()
    observer(words.weight)
    scales, offsets = observer.calculate_qparams()
    qweight = torch.quantize_per_channel(words.weight.detach(), scales, offsets, 0, torch.quint8)
    padding = words.padding_idx
    words.weight = torch.nn.Parameter(torch.empty(0, dim), requires_grad=False)  # frees the fp32 table
    model.set_input_embeddings(
        torch.ao.nn.quantized.Embedding(rows, dim, padding_idx=padding, _weight=qweight)
    )


class ToxicityScorer:
    """Scores texts with Detoxify labels (``toxicity`` and whatever else the checkpoint has)."""

    def __init__(
        self,
        detox: Any,
        name: str,
        version: str,
        max_tokens: int = 128,
        quantize: bool = QUANTIZE,
        blend: NgramBlend | None = None,
    ):
        self.detox = detox
        self.model = quantize_linear(detox.model) if quantize else detox.model
        self.model.eval()
        self.tokenizer = detox.tokenizer
        self.name = name
        self.version = version + ("-int8" if quantize else "") + (f"+{blend.version}" if blend else "")
        self.blend = blend  # an n-gram model blended into ``toxicity`` (``workers/scoring/ngram.py``)
        self.labels: tuple[str, ...] = tuple(detox.class_names)
        limit = int(getattr(self.model.config, "max_position_embeddings", 512))
        self.window = max(8, min(max_tokens, limit) - 2)  # room for [CLS] and [SEP]
        self.stride = max(1, self.window * 3 // 4)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, quantize: bool | None = None) -> ToxicityScorer:
        return cls.from_config(ToxicityConfig.from_settings(settings), quantize)

    @classmethod
    def from_config(cls, config: ToxicityConfig, quantize: bool | None = None) -> ToxicityScorer:
        """Load the model ``config`` names; ``quantize`` (int8) overrides ``config.int8``."""
        import torch

        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        checkpoint, config_dir = modelstore.resolve_source(config.source)
        detox = load_detoxify(checkpoint, config_dir)
        name = config.source.name
        if Path(name).is_dir():
            name = Path(name).resolve().name
        if quantize is None:
            quantize = config.int8
        from workers.scoring.multimodel import source_assets, source_manifest

        blend = load_blend(source_assets(config.source.name), source_manifest(config.source.name))
        scorer = cls(detox, name, _version_of(checkpoint), config.max_tokens, quantize, blend)
        detox.model = scorer.model  # drop the fp32 copy when quantised; ``detox.predict`` stays usable
        return scorer

    def windows(self, text: str) -> list[list[int]]:
        """Token id windows (with special tokens) covering the folded ``text``."""
        # verbose=False: no "longer than the maximum sequence length" warning; the windows handle that.
        ids: list[int] = self.tokenizer(
            fold(text), add_special_tokens=False, truncation=False, verbose=False
        )["input_ids"]
        starts = list(range(0, max(1, len(ids) - self.window + self.stride), self.stride))
        starts = [s for s in starts if s == 0 or s + self.window - self.stride < len(ids)]
        if len(starts) > MAX_WINDOWS:
            starts = [*starts[: MAX_WINDOWS - 1], starts[-1]]
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        return [[cls_id, *ids[s : s + self.window], sep_id] for s in starts]

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One dict of label -> probability per text (max over the text's windows)."""
        import torch

        owners: list[int] = []
        windows: list[list[int]] = []
        for i, text in enumerate(texts):
            for window in self.windows(text):
                owners.append(i)
                windows.append(window)
        best = torch.zeros((len(texts), len(self.labels)))
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
        with self._lock, torch.inference_mode():
            for batch in token_batches(order, windows):
                probs = torch.sigmoid(self._forward([windows[k] for k in batch]))
                for row, k in enumerate(batch):
                    best[owners[k]] = torch.maximum(best[owners[k]], probs[row])
        rows = [dict(zip(self.labels, row, strict=True)) for row in best.tolist()]
        return self.blend.apply(rows, texts) if self.blend is not None else rows

    def _forward(self, windows: list[list[int]]) -> Any:
        ids, mask = padded(windows, int(self.tokenizer.pad_token_id or 0))
        return self.model(input_ids=ids, attention_mask=mask)[0].float()


def padded(windows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """``input_ids`` and ``attention_mask`` tensors of one pass, padded to its longest window."""
    import torch

    width = max(len(w) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = torch.tensor(window)
        mask[row, : len(window)] = 1
    return ids, mask


def token_batches(order: list[int], windows: list[list[int]], budget: int = BATCH_TOKENS) -> list[list[int]]:
    """Consecutive runs of the length-sorted ``order`` within ``budget`` padded tokens per pass."""
    batches: list[list[int]] = []
    current: list[int] = []
    for k in order:
        width = len(windows[k])  # sorted ascending, so this is the padded width of ``current + [k]``
        if current and (len(current) >= MAX_BATCH or width * (len(current) + 1) > budget):
            batches.append(current)
            current = []
        current.append(k)
    if current:
        batches.append(current)
    return batches

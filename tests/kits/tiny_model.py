"""Test helpers: a tiny but real Detoxify-format BERT checkpoint, built in well under a second.

``build_tiny_checkpoint(folder)`` writes the same layout ``modelstore`` accepts for a model folder::

    folder/checkpoint.ckpt   torch.save({"config": {...Detoxify arch/dataset args...}, "state_dict": ...})
    folder/config/           config.json (num_labels, id2label) + the MiniLM WordPiece tokenizer files

The network is a 2-layer, 32-wide ``BertForSequenceClassification`` with seeded random weights, so its
scores are meaningless but deterministic; it exercises the exact loading path of the real model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from workers.scoring.modelstore import CHECKPOINT, CONFIG_DIR, TOKENIZER_FILES, base_model_dir


def build_tiny_checkpoint(
    folder: Path, classes: Sequence[str] = ("toxicity",), seed: int = 0
) -> tuple[Path, Path]:
    """Write a tiny real checkpoint + config folder into ``folder``; return ``(checkpoint, config)``."""
    import torch
    import transformers

    folder = Path(folder)
    config_dir = folder / CONFIG_DIR
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(base_model_dir() / name, config_dir / name)
    labels = list(classes)
    config = transformers.BertConfig.from_dict(
        dict(
            vocab_size=30522,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
            problem_type="multi_label_classification",
        )
    )
    config.save_pretrained(str(config_dir))
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config)
    args = {
        "model_type": str(config_dir.resolve()),
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizerFast",
        "num_classes": len(labels),
    }
    checkpoint = {
        "config": {"arch": {"args": args}, "dataset": {"args": {"classes": labels}}},
        "state_dict": model.state_dict(),
    }
    torch.save(checkpoint, folder / CHECKPOINT)
    (folder / "tiny.json").write_text(json.dumps({"classes": labels, "seed": seed}), encoding="utf-8")
    return folder / CHECKPOINT, config_dir

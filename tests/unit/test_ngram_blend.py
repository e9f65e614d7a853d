"""The n-gram model blended into the multilingual model's toxicity (``workers/scoring/ngram.py``): the
blend's arithmetic, its hash check, how ``commentmod train ngram`` fits it and chooses its weight."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from workers.scoring.ngram import NGRAM_FILE, NgramBlend, NgramError, load_blend, save_ngram
from workers.training.tox_ngram import DIM_BITS, WEIGHTS, choose_weight, fit

TOXIC = ["du bist ein dummer idiot", "halt die klappe du idiot", "seu idiota de merda", "닥쳐 병신아"]
CLEAN = ["danke für den artikel", "ein guter bericht", "obrigado pelo artigo", "좋은 기사 감사합니다"]


def _constant(logit: float, weight: float) -> NgramBlend:
    return NgramBlend(np.zeros(1 << DIM_BITS, np.float32), logit, DIM_BITS, weight, "0" * 64)


def test_weight_zero_leaves_the_models_toxicity_untouched() -> None:
    rows = [{"toxicity": 0.3, "insult": 0.2}, {"toxicity": 0.9, "insult": 0.8}]
    assert _constant(5.0, 0.0).apply([dict(r) for r in rows], ["a", "b"]) == rows


def test_blended_toxicity_mixes_the_two_logits_and_leaves_the_other_labels() -> None:
    [row] = _constant(4.0, 0.25).apply([{"toxicity": 0.5, "insult": 0.5}], ["irrelevant"])
    assert row["toxicity"] == pytest.approx(1 / (1 + math.exp(-(0.75 * 0.0 + 0.25 * 4.0))))
    assert row["insult"] == 0.5


def test_fitted_ngram_logits_rank_toxic_training_texts_above_clean_ones() -> None:
    weights, bias = fit(TOXIC + CLEAN, [1] * len(TOXIC) + [0] * len(CLEAN))
    z = NgramBlend(weights, bias, DIM_BITS, 1.0, "").logits(TOXIC + CLEAN)
    assert min(z[: len(TOXIC)]) > max(z[len(TOXIC) :])


def test_a_tampered_ngram_file_is_refused_and_no_entry_means_no_blend(tmp_path: Path) -> None:
    sha = save_ngram(tmp_path, np.ones(1 << DIM_BITS, np.float32), -1.0)
    entry = {"file": NGRAM_FILE, "sha256": sha, "dim_bits": DIM_BITS, "weight": 0.4}
    blend = load_blend(tmp_path, {"ngram": entry})
    assert blend is not None and blend.weight == 0.4 and blend.bias == -1.0
    assert load_blend(tmp_path, {"name": "no blend"}) is None
    data = bytearray((tmp_path / NGRAM_FILE).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / NGRAM_FILE).write_bytes(bytes(data))
    with pytest.raises(NgramError, match="sha256"):
        load_blend(tmp_path, {"ngram": entry})


def test_the_weight_chosen_is_the_one_that_ranks_dev_rows_best() -> None:
    rng = random.Random(3)
    labels = [i % 2 for i in range(400)]
    noise = [rng.random() for _ in labels]
    signal = np.array([y * 2.0 + rng.gauss(0, 1) for y in labels])
    # the model's probabilities are noise, the n-gram logits carry the signal: the largest weight wins
    weight, table = choose_weight({"de": (noise, signal, labels)})
    assert weight == max(WEIGHTS) and set(table) == {f"{w:g}" for w in WEIGHTS}
    # and the other way round: the model alone
    probs = [1 / (1 + math.exp(-s)) for s in signal]
    weight, _ = choose_weight({"de": (probs, np.array(noise), labels)})
    assert weight == 0.0


def test_a_manifest_entry_written_by_training_loads_as_a_blend(tmp_path: Path) -> None:
    weights, bias = fit(TOXIC + CLEAN, [1] * len(TOXIC) + [0] * len(CLEAN))
    sha = save_ngram(tmp_path, weights, bias)
    manifest = {"ngram": {"file": NGRAM_FILE, "sha256": sha, "dim_bits": DIM_BITS, "weight": 0.5}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    blend = load_blend(tmp_path, manifest)
    assert blend is not None
    np.testing.assert_allclose(blend.weights, weights.astype(np.float16).astype(np.float32))
    assert blend.version.startswith("ng" + sha[:8])


def _german_data(root: Path) -> Path:
    import csv

    rows = [(t, "1", "train") for t in TOXIC[:2]] + [(t, "0", "train") for t in CLEAN[:2]]
    rows += [("Du Idiot, halt die Klappe", "1", "test"), ("Danke, guter Artikel", "0", "test")]
    folder = root / "germeval2018_offense_de"
    folder.mkdir(parents=True)
    with (folder / "normalized.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label", "label_binary", "split", "source_file"])
        writer.writerows((i, text, "x", binary, split, "x") for i, (text, binary, split) in enumerate(rows))
    return root


def test_train_ngram_writes_a_reproducible_blend_chosen_on_the_dev_split(tmp_path: Path) -> None:
    import argparse
    import shutil

    from workers.scoring import multimodel
    from workers.training import tox_ngram

    model = tmp_path / "model"
    shutil.copytree(multimodel.ASSETS, model)
    data = _german_data(tmp_path / "data")
    args = argparse.Namespace(data=data, model=model, models_dir=tmp_path / "models", write=True)
    shas = []
    for _ in range(2):
        assert tox_ngram.run(args) == 0
        manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
        shas.append(manifest["ngram"]["sha256"])
    entry = manifest["ngram"]
    assert shas[0] == shas[1]  # deterministic
    assert entry["rows"] == 4 and entry["dev_sets"] == {"de": ["germeval2018_offense_de:test"]}
    assert entry["weight"] in WEIGHTS and set(entry["dev_auc"]) == {f"{w:g}" for w in WEIGHTS}
    blend = load_blend(model, manifest)
    assert blend is not None and blend.weight == entry["weight"]

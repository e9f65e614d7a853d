"""`commentmod train toxicity --languages`: which rows it reads, and a tiny real, reproducible run whose
trained tensors the model store assembles into a Detoxify checkpoint with the rebuilt XLM-R tokenizer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from workers.training.tox_multilingual import load_language_rows
from workers.training.toxicity import main as train_main

ROWS = {
    "germeval2018_offense_de": [
        ("Danke für den guten Artikel", "OTHER", "0", "train"),
        ("Du bist ein dummer Idiot", "OFFENSE;INSULT", "1", "train"),
        ("Nur im Test", "OTHER", "0", "test"),
    ],
    "told_br_pt": [
        ("Obrigado pelo artigo", "insult=0;obscene=0", "0", "train"),
        ("seu idiota de merda", "insult=2;obscene=1", "1", "train"),
        ("só na validação", "insult=0", "0", "val"),
    ],
    "kmhas_ko": [("좋은 기사 감사합니다", "8", "0", "train"), ("짱개들 꺼져라", "0", "1", "train")],
    "korean_curse_ko": [("잘 읽었습니다", "0", "0", "train"), ("개소리 하지마 병신아", "1", "1", "test")],
}


def _data(root: Path) -> Path:
    for folder, rows in ROWS.items():
        (root / folder).mkdir(parents=True)
        with (root / folder / "normalized.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "label", "label_binary", "split", "source_file"])
            writer.writerows(
                (i, text, label, binary, split, "x") for i, (text, label, binary, split) in enumerate(rows)
            )
    return root


def test_only_the_training_splits_of_the_requested_languages_are_read(tmp_path: Path) -> None:
    rows = load_language_rows(_data(tmp_path), ["de", "ko"])
    texts = {r.text for r in rows}
    assert texts == {
        "Danke für den guten Artikel",
        "Du bist ein dummer Idiot",
        "좋은 기사 감사합니다",
        "짱개들 꺼져라",
        "잘 읽었습니다",
    }
    insult = next(r for r in rows if r.text == "Du bist ein dummer Idiot")
    assert insult.targets["toxicity"] == 1.0 and insult.targets["insult"] == 1.0
    assert "severe_toxicity" not in insult.targets  # unknown for a positive: masked, not taught as 0


def test_a_tiny_run_is_reproducible_and_assembles_into_a_detoxify_checkpoint(tmp_path: Path) -> None:
    from detoxify import Detoxify
    from safetensors.torch import load_file

    from workers.scoring.multimodel import builtin_e5

    data = _data(tmp_path / "data")
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        args = [
            *("--data", str(data), "--out", str(out), "--languages", "de,pt,ko", "--english", "0"),
            *("--freeze-layers", "11", "--max-len", "16", "--epochs", "1", "--batch-size", "4"),
        ]
        assert train_main(args) == 0
        outputs.append(json.loads((out / "manifest.json").read_text(encoding="utf-8")))
    assert outputs[0]["head"]["sha256"] == outputs[1]["head"]["sha256"]  # seeded: the same bytes
    manifest = outputs[0]
    assert manifest["languages"] == ["de", "pt", "ko"] and manifest["training"]["examples"] == 7
    trained = load_file(str(tmp_path / "a" / manifest["head"]["file"]))
    assert all(k.startswith(("bert.encoder.layer.11.", "bert.pooler.", "classifier.")) for k in trained)
    assert manifest["head"]["dtype"] == "int8-rows+float16"  # weight matrices as int8 rows
    assert str(trained["bert.encoder.layer.11.intermediate.dense.weight"].dtype) == "torch.int8"
    assert str(trained["classifier.weight"].dtype) == "torch.float16"
    checkpoint, config = builtin_e5(tmp_path / "models", assets=tmp_path / "a")
    model = Detoxify(checkpoint=str(checkpoint), huggingface_config_path=str(config), device="cpu")
    assert set(model.predict(["Danke", "기사"])) >= {"toxicity", "insult"}

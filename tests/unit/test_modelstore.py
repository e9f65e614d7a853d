"""Model store: built-in assembly with hash checks, model folders, official names, offline fetch parts."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kits.tiny_model import build_tiny_checkpoint
from workers.scoring import modelstore
from workers.scoring.modelstore import ModelStoreError


@pytest.fixture(scope="module")
def builtin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    models_dir = tmp_path_factory.mktemp("models")
    checkpoint, config = modelstore.builtin_model(models_dir)
    return models_dir, checkpoint, config


def test_builtin_assembles_a_complete_detoxify_checkpoint(builtin: tuple[Path, Path, Path]) -> None:
    import torch

    _, checkpoint, config = builtin
    manifest = modelstore.read_asset_manifest()
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=True)
    args = loaded["config"]["arch"]["args"]
    assert args["model_name"] == "BertForSequenceClassification"
    assert args["num_classes"] == len(manifest["labels"])
    assert Path(args["model_type"]) == config.resolve()
    assert loaded["config"]["dataset"]["args"]["classes"] == manifest["labels"]
    assert loaded["state_dict"]["classifier.weight"].shape[0] == len(manifest["labels"])
    assert loaded["state_dict"]["bert.embeddings.word_embeddings.weight"].dtype == torch.float32
    hf = json.loads((config / "config.json").read_text())
    assert hf["num_labels"] == len(manifest["labels"])
    assert hf["id2label"]["0"] == "toxicity"
    assert (config / "vocab.txt").is_file() and (config / "tokenizer.json").is_file()


def test_assets_are_small_and_hashed() -> None:
    manifest = modelstore.read_asset_manifest()
    total = sum(
        p.stat().st_size for p in modelstore.ASSETS_DIR.iterdir() if p.name.startswith(("tox", "man"))
    )
    assert total <= 30 * 1024 * 1024
    head = modelstore.ASSETS_DIR / manifest["head"]["file"]
    assert hashlib.sha256(head.read_bytes()).hexdigest() == manifest["head"]["sha256"]
    assert manifest["version"] == manifest["head"]["sha256"][:12]


def test_builtin_cache_is_reused(builtin: tuple[Path, Path, Path]) -> None:
    models_dir, checkpoint, _ = builtin
    before = checkpoint.stat().st_mtime_ns
    again, _ = modelstore.builtin_model(models_dir)
    assert again == checkpoint and again.stat().st_mtime_ns == before


def test_tampered_cache_is_rebuilt(tmp_path: Path) -> None:
    checkpoint, config = modelstore.builtin_model(tmp_path)
    good = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    with checkpoint.open("r+b") as handle:
        handle.seek(-100, 2)
        handle.write(b"\0" * 50)
    assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() != good
    (config / "vocab.txt").write_text("tampered\n")
    rebuilt, config2 = modelstore.builtin_model(tmp_path)
    assert rebuilt == checkpoint and config2 == config
    assert hashlib.sha256(rebuilt.read_bytes()).hexdigest() == good
    assert (config / "vocab.txt").read_text() != "tampered\n"


def test_tampered_asset_is_refused(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(modelstore.ASSETS_DIR, assets)
    manifest = json.loads((assets / modelstore.MANIFEST).read_text())
    head = assets / manifest["head"]["file"]
    data = bytearray(head.read_bytes())
    data[-10] ^= 0xFF
    head.write_bytes(bytes(data))
    with pytest.raises(ModelStoreError, match="sha256"):
        modelstore.builtin_model(tmp_path / "models", assets=assets)


def test_model_folder_layout_and_manifest_check(tmp_path: Path) -> None:
    checkpoint, config = build_tiny_checkpoint(tmp_path / "tiny")
    assert modelstore.resolve(str(tmp_path / "tiny"), tmp_path) == (checkpoint, config)
    sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    (tmp_path / "tiny" / modelstore.MANIFEST).write_text(json.dumps({"files": {"checkpoint.ckpt": sha}}))
    assert modelstore.model_folder(tmp_path / "tiny")[0] == checkpoint
    (tmp_path / "tiny" / modelstore.MANIFEST).write_text(json.dumps({"files": {"checkpoint.ckpt": "0" * 64}}))
    with pytest.raises(ModelStoreError, match="sha256"):
        modelstore.model_folder(tmp_path / "tiny")
    with pytest.raises(ModelStoreError, match=r"checkpoint\.ckpt"):
        modelstore.model_folder(tmp_path)


def test_unknown_and_unfetched_names(tmp_path: Path) -> None:
    with pytest.raises(ModelStoreError, match="models fetch original"):
        modelstore.resolve("original", tmp_path)
    with pytest.raises(ModelStoreError, match="not commentmod-minilm"):
        modelstore.resolve("no-such-model", tmp_path)


def test_expected_prefix_matches_detoxify_urls() -> None:
    from detoxify.detoxify import MODEL_URLS

    assert set(MODEL_URLS) == set(modelstore.OFFICIAL)
    assert modelstore.expected_prefix(MODEL_URLS["original"]) == "c1212f89"
    assert modelstore.expected_prefix(MODEL_URLS["multilingual"]) == "0b549669"
    assert modelstore.expected_prefix("https://example.org/plain.ckpt") is None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_download_checks_the_hash_prefix(served: tuple[str, Path], tmp_path: Path) -> None:
    base, root = served
    payload = b"checkpoint bytes" * 1000
    sha = hashlib.sha256(payload).hexdigest()
    (root / f"model-{sha[:8]}.ckpt").write_bytes(payload)
    (root / "model-deadbeef.ckpt").write_bytes(payload)
    got = modelstore.download(f"{base}/model-{sha[:8]}.ckpt", tmp_path / "ok.ckpt", sha[:8])
    assert got == sha and (tmp_path / "ok.ckpt").read_bytes() == payload
    url = f"{base}/model-deadbeef.ckpt"
    with pytest.raises(ModelStoreError, match="does not start with deadbeef"):
        modelstore.download(url, tmp_path / "bad.ckpt", modelstore.expected_prefix(url))
    assert not (tmp_path / "bad.ckpt").exists() and not list(tmp_path.glob("*.partial"))


def test_fetch_writes_a_loadable_folder(served: tuple[str, Path], tmp_path: Path) -> None:
    import torch

    base, root = served
    checkpoint, config = build_tiny_checkpoint(tmp_path / "src", classes=("toxic", "insult"))
    loaded = torch.load(checkpoint, weights_only=True)
    loaded["config"]["arch"]["args"]["model_type"] = "bert-base-uncased"  # as official checkpoints do
    torch.save(loaded, root / "tmp.ckpt")
    sha = hashlib.sha256((root / "tmp.ckpt").read_bytes()).hexdigest()
    (root / "tmp.ckpt").rename(root / f"toxic_original-{sha[:8]}.ckpt")
    repo = root / "google-bert" / "bert-base-uncased" / "resolve" / "main"
    shutil.copytree(config, repo)
    folder = modelstore.fetch_model(
        "original", tmp_path / "models", url=f"{base}/toxic_original-{sha[:8]}.ckpt", hf_base=base
    )
    manifest = json.loads((folder / modelstore.MANIFEST).read_text())
    assert manifest["files"]["checkpoint.ckpt"] == sha and manifest["classes"] == ["toxic", "insult"]
    assert json.loads((folder / "config" / "config.json").read_text())["num_labels"] == 2
    from service.core.settings import Settings
    from workers.scoring.toxicity import ToxicityScorer

    settings = Settings(multilingual_model="none", toxicity_model="original", models_dir=tmp_path / "models")
    scorer = ToxicityScorer.from_settings(settings)
    assert scorer.labels == ("toxicity", "insult") and scorer.version == sha[:12] + "-int8"
    assert set(scorer.score(["hello"])[0]) == {"toxicity", "insult"}


def test_register_adds_fetch() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    modelstore.register(parser.add_subparsers(dest="action"))
    args = parser.parse_args(["fetch", "unbiased", "--models-dir", "/tmp/x"])
    assert args.name == "unbiased" and args.models_dir == Path("/tmp/x") and callable(args.func)


@pytest.mark.procs
def test_cli_modules_do_not_import_torch() -> None:
    code = (
        "import sys; import workers.scoring.modelstore, workers.scoring.toxicity, "
        "workers.training.toxicity, service.core.normalize; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])

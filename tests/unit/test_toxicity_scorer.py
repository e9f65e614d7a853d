"""ToxicityScorer on the tiny real checkpoint: the Detoxify loading path, windows, batching."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.normalize import fold
from service.core.settings import Settings
from tests.kits.tiny_model import build_tiny_checkpoint
from workers.scoring.toxicity import BATCH_TOKENS, MAX_WINDOWS, ToxicityScorer, token_batches


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    build_tiny_checkpoint(folder, classes=("toxic", "insult", "identity_hate"))
    return folder


def tiny_scorer(tiny: Path, quantize: bool = False) -> ToxicityScorer:
    """Unquantised by default: exact arithmetic for these checks."""
    settings = Settings(
        multilingual_model="none",
        toxicity_model=str(tiny),
        models_dir=tiny / "models",
        max_tokens=32,
        torch_threads=1,
    )
    return ToxicityScorer.from_settings(settings, quantize=quantize)


@pytest.fixture(scope="module")
def scorer(tiny: Path) -> ToxicityScorer:
    return tiny_scorer(tiny)


def test_loads_through_detoxify(scorer: ToxicityScorer, tiny: Path) -> None:
    from detoxify import Detoxify

    assert isinstance(scorer.detox, Detoxify)
    assert scorer.labels == ("toxicity", "insult", "identity_attack")  # Detoxify's standard names
    assert scorer.name == tiny.name and len(scorer.version) == 12  # sha256 prefix of the checkpoint
    assert scorer.window == 30 and scorer.stride == 22


def test_scores_are_probabilities_per_label(scorer: ToxicityScorer) -> None:
    out = scorer.score(["hello there", "", "you are an idiot", "x" * 5000])
    assert len(out) == 4
    for row in out:
        assert set(row) == set(scorer.labels)
        assert all(0.0 <= v <= 1.0 for v in row.values())
    assert scorer.score([]) == []


def test_batching_does_not_change_scores(scorer: ToxicityScorer) -> None:
    texts = [
        "short",
        "a somewhat longer comment about the city council and its budget " * 3,
        "mid length text",
    ]
    together = scorer.score(texts)
    alone = [scorer.score([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        for label in scorer.labels:
            assert a[label] == pytest.approx(b[label], abs=1e-5)


def test_matches_detoxify_predict_on_short_text(scorer: ToxicityScorer) -> None:
    text = "an ordinary short comment"
    ours = scorer.score([text])[0]
    theirs = scorer.detox.predict(text)
    for label in scorer.labels:
        assert ours[label] == pytest.approx(float(theirs[label]), abs=1e-5)


def test_windows_cover_every_token(scorer: ToxicityScorer) -> None:
    text = " ".join(f"word{i}" for i in range(24))  # fits MAX_WINDOWS windows of 30 tokens
    ids = scorer.tokenizer(fold(text), add_special_tokens=False)["input_ids"]
    windows = scorer.windows(text)
    assert len(windows) > 1
    assert all(len(w) <= 32 for w in windows)
    assert all(
        w[0] == scorer.tokenizer.cls_token_id and w[-1] == scorer.tokenizer.sep_token_id for w in windows
    )
    covered = [t for w in windows for t in w[1:-1]]
    assert set(covered) == set(ids)
    assert windows[-1][-2] == ids[-1]  # the end of the text is always scored
    assert len(scorer.windows("news " * 20_000)) == MAX_WINDOWS


def test_a_maximum_length_body_costs_a_few_windows_not_dozens(scorer: ToxicityScorer) -> None:
    """Bounded cost (issue 17): a 10,000-character body is scored in at most ``MAX_WINDOWS`` windows
    (its start and its end), so its model work is a few times a one-window comment's, not ~90 times."""
    body = ("you idiot " + "qx zv " * 20) * 80
    ids = scorer.tokenizer(fold(body[:10_000]), add_special_tokens=False)["input_ids"]
    assert len(ids) > 50 * scorer.window  # dozens of windows' worth of tokens
    windows = scorer.windows(body[:10_000])
    assert len(windows) == MAX_WINDOWS <= 4
    assert sum(map(len, windows)) <= 4 * (scorer.window + 2)
    assert windows[-1][-2] == ids[-1]  # the end is still scored
    assert len(scorer.windows("A fair point about the library budget, thanks.")) == 1


def test_windows_take_the_max(scorer: ToxicityScorer) -> None:
    window_texts = [scorer.tokenizer.decode(w[1:-1]) for w in scorer.windows("lorem ipsum dolor " * 40)]
    parts = scorer.score(window_texts)
    whole = scorer.score(["lorem ipsum dolor " * 40])[0]
    for label in scorer.labels:
        assert whole[label] == pytest.approx(max(p[label] for p in parts), abs=1e-4)


def test_long_texts_score_without_the_tokenizer_length_warning(
    tiny: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The windows handle texts past the model's limit; the tokenizer must not print (outside the JSON
    logs) that such a text "will result in indexing errors"."""
    fresh = tiny_scorer(tiny)  # the tokenizer warns once per instance
    assert fresh.tokenizer.model_max_length < 900
    fresh.score(["word " * 900])
    out, err = capfd.readouterr()
    assert "maximum sequence length" not in out + err + caplog.text


def test_batches_respect_the_token_budget() -> None:
    windows = [[1] * n for n in [3, 5, 128, 128, 7] * 40]
    order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
    batches = token_batches(order, windows)
    assert sorted(k for b in batches for k in b) == list(range(len(windows)))
    assert all(len(b) * max(len(windows[k]) for k in b) <= BATCH_TOKENS for b in batches)


def test_quantized_by_default(tiny: Path) -> None:
    import torch

    settings = Settings(
        multilingual_model="none", toxicity_model=str(tiny), models_dir=tiny / "models", max_tokens=32
    )
    quantized = ToxicityScorer.from_settings(settings)
    assert quantized.version.endswith("-int8")
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.model.modules())
    row = quantized.score(["hello"])[0]
    assert set(row) == set(quantized.labels)


def test_loading_and_quantising_print_nothing_outside_the_logs(
    tiny: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A worker's stdout and stderr carry JSON log lines only: no "Loading weights" progress bar from
    transformers and no torch deprecation notice from the int8 quantisation."""
    capfd.readouterr()
    tiny_scorer(tiny, quantize=True).score(["hello"])
    out, err = capfd.readouterr()
    assert out + err == ""

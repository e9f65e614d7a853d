"""The real built-in model (assembled from the package + committed assets): a few behaviour checks.

Kept small (one assembly, a handful of texts) so they run in CI in well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.settings import Settings
from workers.scoring.toxicity import ToxicityScorer

BENIGN = (
    "The council met on Tuesday to discuss the new library budget. Several residents spoke about the "
    "opening hours, the children's reading programme and the cost of repairing the roof. The mayor said "
    "the city would look for provincial funding and report back next month. A local teacher thanked staff "
    "for the summer events and asked whether the branch could stay open later on weekdays. The treasurer "
    "explained that the reserve fund was lower than last year because of the winter storms and the bridge "
    "repairs, and that any new spending would need a vote at the next meeting in the autumn. "
    "Two councillors asked for a detailed breakdown of the maintenance contracts before that vote, and "
    "the clerk promised to publish the figures on the city website along with the minutes. Residents "
    "can also send written comments to the council office until the end of the month. "
)
TOXIC = "You are a pathetic idiot and a disgusting moron, shut up."


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def scorer(models_dir: Path) -> ToxicityScorer:
    return ToxicityScorer.from_settings(Settings(models_dir=models_dir, torch_threads=1))


def test_builtin_identity(scorer: ToxicityScorer) -> None:
    assert scorer.name == "commentmod-minilm"
    assert scorer.labels[0] == "toxicity"


def test_separates_obvious_cases(scorer: ToxicityScorer) -> None:
    toxic, benign = scorer.score([TOXIC, "Thanks for the thoughtful article about the library budget."])
    assert toxic["toxicity"] > 0.7
    assert benign["toxicity"] < 0.2


def test_toxicity_after_the_token_limit_is_found(scorer: ToxicityScorer) -> None:
    assert len(scorer.tokenizer(BENIGN, add_special_tokens=False)["input_ids"]) > scorer.window
    clean, dirty = scorer.score([BENIGN, BENIGN + TOXIC])
    assert dirty["toxicity"] > clean["toxicity"] + 0.4
    first_window = scorer.tokenizer.decode(scorer.windows(BENIGN + TOXIC)[0][1:-1])
    truncated = scorer.score([first_window])[0]  # what a model that truncates at max_tokens would see
    assert dirty["toxicity"] > truncated["toxicity"] + 0.4


def test_obfuscation_does_not_hide_an_insult(scorer: ToxicityScorer) -> None:
    plain, *disguised = scorer.score(
        [
            "you are an idiot",
            "you are an i d i o t",
            "you are an 1d10t",
            "you are an \u0456d\u0456\u043et",
            "you are an id\u200bi\u200bot",
        ]
    )
    for row in disguised:
        assert row["toxicity"] == pytest.approx(plain["toxicity"], abs=0.05)


def test_int8_quantisation_stays_close(scorer: ToxicityScorer, models_dir: Path) -> None:
    assert scorer.version.endswith("-int8")  # the default
    fp32 = ToxicityScorer.from_settings(Settings(models_dir=models_dir, torch_threads=1), quantize=False)
    texts = [TOXIC, BENIGN, "I think the minister is wrong about this, frankly."]
    for a, b in zip(fp32.score(texts), scorer.score(texts), strict=True):
        assert a["toxicity"] == pytest.approx(b["toxicity"], abs=0.1)

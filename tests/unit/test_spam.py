"""Spam scorer: text model, static signals, combination, asset integrity, adversarial inputs."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.kits.linear import LINEAR_BOUND, fifth, growth
from workers.scoring.spam import (
    ASSETS,
    MANIFEST,
    SpamScorer,
    featurise,
    featurise_many,
    find_links,
    load_model,
    normalise,
)
from workers.scoring.types import CommentText, Signal

SPAM = "Check out my channel http://bit.ly/xyz FREE iPhone click here"
NEWS = (
    "The council should publish the full budget before the vote. Residents deserve to see where the "
    "transit money is going, and the last two audits were never released."
)


@pytest.fixture(scope="module")
def scorer() -> SpamScorer:
    return SpamScorer()


def codes(signals: list[Signal]) -> set[str]:
    return {s.code for s in signals}


def test_normalise_undoes_youtube_artefacts() -> None:
    raw = "\ufeffcheck out my Eminem &amp; Kid<br />Cudi\ufeff"
    assert normalise(raw) == "check out my Eminem & Kid Cudi"
    assert normalise("&#65;&#x42;&#00067; &#" + "9" * 5000) == "ABC \ufffd"


def test_model_separates_obvious_spam_from_news_comment(scorer: SpamScorer) -> None:
    spam, news = scorer.text_scores([SPAM, NEWS])
    assert spam > 0.9
    assert news < 0.2
    c_spam = CommentText(id="1", body=SPAM)
    c_news = CommentText(id="2", body=NEWS)
    assert scorer.combine(spam, scorer.static_signals(c_spam)) > scorer.combine(
        news, scorer.static_signals(c_news)
    )


def test_scores_are_within_unit_interval(scorer: SpamScorer) -> None:
    texts = ["", " ", SPAM, NEWS, "a" * 10_000, "\ufeff&amp;"]
    for score in scorer.text_scores(texts):
        assert 0.0 <= score <= 1.0
    heavy = [Signal("honeypot", 8.0), Signal("too_fast", 2.5), Signal("link", 100.0)]
    assert 0.0 <= scorer.combine(1.0, heavy) <= 1.0
    assert 0.0 <= scorer.combine(0.0, [Signal("x", -100.0)]) <= 1.0
    assert scorer.combine(0.3, []) == pytest.approx(0.3)
    assert scorer.combine(0.3, [Signal("link", 1.0)]) > 0.3


def test_text_scores_empty_batch(scorer: SpamScorer) -> None:
    assert scorer.text_scores([]) == []


def test_static_signals_fire(scorer: SpamScorer) -> None:
    c = CommentText(
        id="1",
        body="Great deals!!!!!!!! click here http://bit.ly/abc and www.cheap-pills.xyz/buy and pills.ru",
        name="Cheap SEO http://seo.example.com",
        email="bot@mailinator.com",
        honeypot="filled",
        form_elapsed_ms=800,
    )
    found = codes(scorer.static_signals(c))
    assert {"link", "link_shortener", "name_url", "name_sales", "disposable_email"} <= found
    assert {"repeated_chars", "spam_phrase", "honeypot", "too_fast"} <= found
    link = next(s for s in scorer.static_signals(c) if s.code == "link")
    single = scorer.static_signals(CommentText(id="2", body="see a.com"))
    one_link = next(s for s in single if s.code == "link")
    assert link.weight > one_link.weight


def test_static_signals_quiet_on_normal_comment(scorer: SpamScorer) -> None:
    c = CommentText(
        id="1", body=NEWS, name="Jane Doe", email="jane@gmail.com", honeypot="", form_elapsed_ms=45_000
    )
    assert scorer.static_signals(c) == []
    assert scorer.static_signals(CommentText(id="2", body="e.g. this, i.e. that. U.S. policy, file.py")) == []


def test_find_links() -> None:
    assert find_links("see https://www.Example.com/a?b=1 and bit.ly/x, or WWW.foo.org.") == [
        "example.com",
        "bit.ly",
        "foo.org",
    ]
    assert find_links("Mr.Smith said e.g. 3.5 is fine") == []


@pytest.mark.parametrize(
    "evil",
    [
        "a" * 50_000,
        "a." * 25_000,
        "a-" * 25_000,
        "http://" + "a" * 50_000,
        "http://" + "a." * 25_000,
        "www." * 12_500,
        "<" * 50_000,
        "<a " + "x" * 50_000,
        "&" * 50_000,
        "&#" + "9" * 50_000,
        "&#x" + "f" * 50_000,
        "&#" + "0" * 50_000,
        "&#0" * 16_000,
        "!" * 50_000,
        "ab" * 25_000,
        "earn " + "1" * 50_000,
        "check out my " * 4_000,
        "\ufeff" * 50_000,
        ("x" * 200 + ".com ") * 200,
        "lone surrogate \ud800 \udfff" * 2_000,
    ],
)
def test_adversarial_inputs_take_linear_time(scorer: SpamScorer, evil: str) -> None:
    """No wall-clock bound: 5x the characters may cost 5x the work (linear), never near 25x."""

    def run(text: str) -> None:
        c = CommentText(id="1", body=text, name=text, email=text + "@" + text, author_url=text, honeypot="")
        scorer.static_signals(c)
        scorer.text_scores([text])
        find_links(text)

    ratio = growth(run, fifth(evil), evil)
    assert ratio < LINEAR_BOUND, f"work grew {ratio:.1f}x for 5x the characters"


def test_a_batch_of_2000_gets_one_score_per_text(scorer: SpamScorer) -> None:
    """How fast is ``make bench``'s (worker_throughput scores with this scorer); here, what comes back."""
    texts = [f"{NEWS} {i}" for i in range(1000)] + [f"{SPAM} {i}" for i in range(1000)]
    scores = scorer.text_scores(texts)
    assert len(scores) == len(texts)
    assert max(scores[:1000]) < 0.5 < min(scores[1000:])


def test_features_are_deterministic() -> None:
    a_idx, a_val = featurise(SPAM)
    b_idx, b_val = featurise(SPAM)
    assert a_idx.tolist() == b_idx.tolist() and a_val.tolist() == b_val.tolist()


def test_features_of_a_batch_are_each_texts_own() -> None:
    """The batch hashes every text's byte n-grams in one array: none may span two texts, and each row
    must be what the text alone gives (the weights were trained on exactly these features)."""
    texts = [SPAM, "", "ab", NEWS, "ÿ€😀" * 40, "x" * 5000, "<b>hi</b> &amp; www.example.com", "a"]
    indptr, indices, data = featurise_many(texts)
    assert len(indptr) == len(texts) + 1
    for i, text in enumerate(texts):
        alone_idx, alone_val = featurise(text)
        assert indices[indptr[i] : indptr[i + 1]].tolist() == alone_idx.tolist()
        assert data[indptr[i] : indptr[i + 1]].tolist() == alone_val.tolist()
        assert np.all(np.diff(alone_idx) > 0) and np.isclose(float(np.dot(alone_val, alone_val)), 1.0)
    assert featurise_many([])[0].tolist() == [0]


def test_features_are_the_ones_the_shipped_weights_were_trained_on() -> None:
    """A digest of the features of a few texts, taken with the per-text implementation the shipped spam
    weights were trained with (before the batched one): any change to the features changes it."""
    texts = [
        "Check out my channel http://bit.ly/x FREE iPhone!!!", "", "The council's budget vote was close.",
        "ÿ€😀" * 40, "<b>hi</b> &amp; www.example.com",
    ]  # fmt: skip
    digest = hashlib.sha256()
    for text in texts:
        indices, values = featurise(text)
        digest.update(indices.astype("<i8").tobytes())
        digest.update(values.astype("<f4").tobytes())
    assert digest.hexdigest() == "ffbd435013bb5b64fbc653deff8e2634a21785d73865dc1bf828b4cc35dce9ef"


def test_manifest_checks_weights(tmp_path: Path) -> None:
    weights, _, manifest = load_model()
    assert manifest["version"].startswith("spam-")
    assert (ASSETS / manifest["weights_file"]).stat().st_size < 4_000_000
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    with (copy / manifest["weights_file"]).open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ValueError, match="sha256"):
        load_model(copy)
    assert (copy / MANIFEST).exists() and weights.dtype.name == "float32"


def test_from_settings() -> None:
    from service.core.settings import Settings

    scorer = SpamScorer.from_settings(Settings())
    assert scorer.name == "spam" and scorer.version.startswith("spam-hashlr-")

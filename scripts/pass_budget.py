"""Comments per CPU second of a model shape for several forward-pass budgets (padded tokens per pass).

    python scripts/pass_budget.py                                 # BERT-base and the default's shape
    python scripts/pass_budget.py --shapes bert-base --budgets 256,512 --comments 512

Speed does not depend on the weights, so each shape is a randomly initialised BERT of that size,
quantised the way the worker quantises (dynamic int8 ``Linear`` layers), run with 1 torch thread on the
bench's synthetic comments tokenised by the default model's tokenizer, in calls of 256 comments
batched by ``workers.scoring.toxicity.token_batches``. This is how ``BATCH_TOKENS`` was checked for the
official BERT-base models (``original``, ``unbiased``), whose weights cannot be downloaded here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit.texts import synthetic_comments

import workers.scoring.toxicity as toxicity
from workers.scoring.modelstore import base_model_dir

SHAPES: dict[str, dict[str, int]] = {
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "intermediate_size": 3072},
    "minilm-l6": {"hidden_size": 384, "num_hidden_layers": 6, "intermediate_size": 1536},
}
CALL = 256  # comments per scoring call, as the worker's default batch


def model_of(shape: str) -> Any:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(num_attention_heads=12, num_labels=6, **SHAPES[shape])
    return toxicity.quantize_linear(BertForSequenceClassification(config).eval())


def rate(model: Any, encoded: list[list[int]], budget: int, pad_id: int) -> float:
    """Comments per CPU second of the forward passes alone, passes of at most ``budget`` tokens."""
    import torch

    seconds = 0.0
    with torch.inference_mode():
        for start in range(0, len(encoded), CALL):
            call = encoded[start : start + CALL]
            order = sorted(range(len(call)), key=lambda k: len(call[k]))
            for batch in toxicity.token_batches(order, call, budget):
                ids, mask = toxicity.padded([call[k] for k in batch], pad_id)
                started = time.thread_time()
                model(input_ids=ids, attention_mask=mask)
                seconds += time.thread_time() - started
    return len(encoded) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes", default="bert-base,minilm-l6", help=f"comma-separated: {', '.join(SHAPES)}"
    )
    parser.add_argument("--budgets", default="128,256,512,1024,4096")
    parser.add_argument("--comments", type=int, default=2048)
    args = parser.parse_args(argv)
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir()))
    texts = synthetic_comments(args.comments, seed=7)
    encoded = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    budgets = [int(b) for b in args.budgets.split(",")]
    print(f"{args.comments} comments, 1 torch thread, int8; comments per CPU second by tokens per pass")
    print(f"{'shape':12} " + " ".join(f"{b:>7}" for b in budgets))
    pad_id = int(tokenizer.pad_token_id or 0)
    for shape in args.shapes.split(","):
        model = model_of(shape)
        rate(model, encoded[:CALL], toxicity.BATCH_TOKENS, pad_id)  # warm-up
        rates = [rate(model, encoded, b, pad_id) for b in budgets]
        print(f"{shape:12} " + " ".join(f"{r:7.1f}" for r in rates), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

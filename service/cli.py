"""The ``commentmod`` command: up, api, worker, score, train, models, eval, deadletters."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service.core.logs import configure_logging
from service.core.sealing import use_key
from service.core.settings import Settings, SettingsError


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None),
    }
    return Settings.from_env(**overrides)


def _cmd_up(args: argparse.Namespace) -> int:
    from service.launcher import run_up

    return run_up(_settings(args))


def _cmd_api(args: argparse.Namespace) -> int:
    from service.launcher import run_api

    return run_api(_settings(args), processes=args.processes, reuse_port=args.reuse_port)


def _cmd_worker(args: argparse.Namespace) -> int:
    from service.launcher import run_workers

    return run_workers(_settings(args), processes=args.processes)


def _cmd_score(args: argparse.Namespace) -> int:
    from workers.backtest import score_stream

    return score_stream(_settings(args), sys.stdin, sys.stdout, batch_size=args.batch_size)


def _cmd_deadletters(args: argparse.Namespace) -> int:
    from service.launcher import deadletters

    return deadletters(_settings(args), args.action, args.ids)


def _add_serving(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    up = sub.add_parser("up", help="API + one worker + (embedded) Redis in one command")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument("--data-dir", type=Path)
    up.set_defaults(func=_cmd_up)
    api = sub.add_parser("api", help="the HTTP API only")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument("--data-dir", type=Path)
    api.add_argument("--processes", type=int, default=1, help="API processes sharing the port")
    api.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    api.set_defaults(func=_cmd_api)
    worker = sub.add_parser("worker", help="a scoring worker (run as many as you like)")
    worker.add_argument("--host", help="the address its metrics listen on (default 127.0.0.1)")
    worker.add_argument("--data-dir", type=Path)
    worker.add_argument(
        "--processes", type=int, default=1, help="worker processes, each a consumer (use one per core)"
    )
    worker.set_defaults(func=_cmd_worker)
    score = sub.add_parser("score", help="JSON lines on stdin -> verdicts on stdout, no Redis")
    score.add_argument("--batch-size", type=int, default=256)
    score.set_defaults(func=_cmd_score)
    dead = sub.add_parser("deadletters", help="list or re-queue dead-lettered comments")
    dead.add_argument("action", choices=["list", "requeue"])
    dead.add_argument("ids", nargs="*", help="dead-letter ids to re-queue (default: all)")
    dead.add_argument("--data-dir", type=Path)
    dead.set_defaults(func=_cmd_deadletters)


def build_parser() -> argparse.ArgumentParser:
    from workers import evaluation, feedback
    from workers.scoring import modelstore
    from workers.training import spam as train_spam
    from workers.training import thresholds as train_thresholds
    from workers.training import tox_ngram as train_ngram
    from workers.training import toxicity as train_toxicity

    parser = argparse.ArgumentParser(prog="commentmod", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serving(sub)
    train = sub.add_parser("train", help="train a scorer from a labelled data folder")
    train_sub = train.add_subparsers(dest="what", required=True)
    train_toxicity.register(train_sub)
    train_thresholds.register(train_sub)
    train_ngram.register(train_sub)
    train_spam.register(train_sub)
    models = sub.add_parser("models", help="manage toxicity models")
    models_sub = models.add_subparsers(dest="action", required=True)
    modelstore.register(models_sub)
    evaluation.register(sub)
    feedback.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"commentmod: {exc}", file=sys.stderr)
        return 2
    use_key(settings.hash_secret)  # every command that reads stored comments opens their personal fields
    configure_logging(
        settings.log_format,
        settings.log_level,
        stream=sys.stderr
        if args.command in {"score", "eval", "train", "models", "deadletters", "export-labels", "calibrate"}
        else None,
    )
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())

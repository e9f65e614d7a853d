"""commentmod bench: intake, workers, latency and memory against the goals, in one run (``make bench``).

    python scripts/bench.py                 # the full run (a few minutes: 7 on a busy 2-core box)
    python scripts/bench.py --quick         # CI smoke: same code paths, short runs, same table (~1 min)
    python scripts/bench.py --json out.json # also write the figures as JSON
    python scripts/bench.py --data DIR      # comments from DIR (.csv/.jsonl/.txt) instead of synthetic
    python scripts/bench.py --only intake   # just the intake rows (bare handler vs API)
    python scripts/bench.py --only protocols  # just the protocol rows (Perspective, Coral, Akismet)
    python scripts/bench.py --only flood    # one comment's cost, and site A's latency while B floods
    python scripts/bench.py --only languages  # 60 % en + 40 % de/pt/ko through the default worker

Everything it starts (redis-server, API, worker, load generator) listens on 127.0.0.1 only and is
stopped at the end, also on errors and Ctrl-C. Missed goals are reported, not errors: exit 0; any
error exits 1. Figures are ratios measured in this one run, against a baseline measured beside them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the service packages, also without `pip install -e .`

from benchkit.flood import flood_rows  # noqa: E402
from benchkit.intake import IntakeRun, intake_api, intake_bare  # noqa: E402
from benchkit.languages import language_rows  # noqa: E402
from benchkit.load import LoadGen, have_wrk  # noqa: E402
from benchkit.phases import SITE_KEY, Ctx, Plan  # noqa: E402
from benchkit.procs import Procs, machine_info  # noqa: E402
from benchkit.protocols import protocol_rows  # noqa: E402
from benchkit.report import Row, percentile, render, write_json  # noqa: E402
from benchkit.scoring import scoring_phase  # noqa: E402
from benchkit.texts import comments_from_dir, payload, synthetic_comments  # noqa: E402

MB = 1_000_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke: seconds per phase, same table")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures to OUT")
    parser.add_argument("--data", type=Path, metavar="DIR", help="comment texts from DIR (default synthetic)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "aiohttp"], default="auto")
    parser.add_argument("--connections", type=int, help="intake load connections (default 64; quick 32)")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--seconds", type=int, help="seconds per intake row (default 5; quick 1)")
    parser.add_argument("--comments", type=int, help="comments for the worker run (default 4096; quick 64)")
    parser.add_argument("--latency-seconds", type=float, help="paced phase length (default 20; quick 2)")
    parser.add_argument(
        "--worker-processes", type=int, help="`commentmod worker --processes` (default: one per core)"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="paced phase comments per second")
    parser.add_argument("--work-dir", type=Path, help="where Redis writes its AOF (default ./var/bench)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only",
        choices=["intake", "protocols", "flood", "languages"],
        help="run only these rows (intake: a few minutes less)",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    quick = bool(args.quick)
    return Plan(
        quick=quick,
        intake_seconds=args.seconds or (1 if quick else 5),
        warmup_seconds=0 if quick else 1,
        connections=args.connections or (32 if quick else 64),
        wrk_threads=args.wrk_threads,
        comments=args.comments or (64 if quick else 4096),
        latency_seconds=args.latency_seconds or (2.0 if quick else 20.0),
        rate=args.rate,
        batch_size=int(os.environ.get("COMMENTMOD_BATCH_SIZE", "256")),
        worker_processes=args.worker_processes or len(os.sched_getaffinity(0)),
    )


def models_dir() -> Path:
    from service.core.settings import Settings

    path = Settings.from_env().models_dir
    return path if path.is_absolute() else ROOT / path


def _ms(run: IntakeRun) -> str:
    load = run.load
    extra = f", non-2xx {load.non_2xx}" if load.non_2xx else ""
    extra += f", errors {load.errors}" if load.errors else ""
    cpu = f", server CPU {run.cpu_us_per_request:.0f} us/req"
    if run.redis_cpu_us_per_request:
        cpu += f" + redis {run.redis_cpu_us_per_request:.0f} us/req"
    return f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms{cpu}{extra}"


def _data(run: IntakeRun) -> dict[str, Any]:
    return {
        **run.load.to_json(),
        "accepted": run.accepted,
        "server_cpu_us_per_request": round(run.cpu_us_per_request, 1),
        "redis_cpu_us_per_request": round(run.redis_cpu_us_per_request, 1),
        "rss_peak_bytes": run.rss_peak,
    }


def intake_rows(ctx: Ctx) -> tuple[list[Row], int]:
    """The intake rows, and the API's peak RSS under that load (1 process)."""
    ctx.say("intake: bare aiohttp handler (baseline, first of two)")
    bare_a = intake_bare(ctx, "bare-1")
    always = intake_api(ctx, "always", "always")
    everysec = intake_api(ctx, "everysec", "everysec")
    info = intake_api(ctx, "everysec-info", "everysec", log_level="info")
    two = intake_api(ctx, "everysec-2proc", "everysec", processes=2)
    ctx.say("intake: bare aiohttp handler (baseline, second of two)")
    bare_b = intake_bare(ctx, "bare-2")
    bare = (bare_a.load.rps + bare_b.load.rps) / 2
    rows = [
        Row("intake_bare", bare, "req/s", "baseline", None,
            f"mean of {bare_a.load.rps:.0f} (first) and {bare_b.load.rps:.0f} (last); {_ms(bare_a)}",
            {"first": _data(bare_a), "last": _data(bare_b)}),
    ]  # fmt: skip
    for key, run, what in (
        ("intake_fsync_always", always, "appendfsync always"),
        ("intake_fsync_everysec", everysec, "appendfsync everysec"),
    ):
        pct = 100 * run.load.rps / bare
        rows.append(Row(key, pct, "% of bare", ">= 50 %", pct >= 50,
                        f"{run.load.rps:.0f} req/s, {what}, log warning, {_ms(run)}, {run.accepted} written",
                        _data(run)))  # fmt: skip
    pct = 100 * info.load.rps / bare
    rows.append(Row("intake_everysec_log_info", pct, "% of bare", "info", None,
                    f"{info.load.rps:.0f} req/s with one info line per request "
                    f"({100 * info.load.rps / everysec.load.rps:.0f} % of log warning), {_ms(info)}",
                    _data(info)))  # fmt: skip
    scale = two.load.rps / everysec.load.rps
    rows.append(Row("intake_processes_2_vs_1", scale, "x", "info", None,
                    f"--processes 2: {two.load.rps:.0f} req/s vs 1: {everysec.load.rps:.0f} req/s "
                    f"(everysec; {os.cpu_count()} cores shared with Redis and the load), {_ms(two)}",
                    _data(two)))  # fmt: skip
    return rows, max(always.rss_peak, everysec.rss_peak)


def _worker_detail(ctx: Ctx, out: dict[str, Any]) -> str:
    raw, worker = out["raw"], out["worker"]
    cpu_pct = 100 * raw["cpu_s_per_comment"] / max(worker["cpu_s_per_comment"], 1e-9)
    ways = "; ".join(
        f"{way} {w['rate']:.1f}/s ({w['first']:.1f} before, {w['last']:.1f} after)"
        for way, w in raw["ways"].items()
    )
    return (
        f"{worker['rate']:.1f} comments/s end to end by `worker --processes {worker['processes']}` "
        f"({worker['comments']} of {worker['posted']} decided in {worker['seconds']:.1f} s, every process "
        f"consuming) vs raw ToxicityScorer.score {raw['rate']:.1f}/s, the faster way: {raw['label']} "
        f"[{ways}]; batches of {ctx.plan.batch_size}; worker log warning; CPU per comment "
        f"{1000 * worker['cpu_s_per_comment']:.2f} ms vs raw {1000 * raw['cpu_s_per_comment']:.2f} ms "
        f"(CPU-time ratio {cpu_pct:.0f} %), and redis-server "
        f"{1000 * worker['redis_cpu_s_per_comment']:.2f} ms on the same cores"
    )


def scoring_rows(ctx: Ctx, api_rss: int) -> list[Row]:
    out = scoring_phase(ctx)
    raw, worker, lat, red = out["raw"], out["worker"], out["latency"], out["redis"]
    pct = 100 * worker["rate"] / raw["rate"]
    decision = lat["decision_ms"]
    p50, p95, p99 = (percentile(decision, q) for q in (0.50, 0.95, 0.99))
    lat_detail = (
        f"{lat['comments']} comments at {lat['rate']:g}/s, `worker --processes {worker['processes']}` "
        f"({100 * lat['rate'] / worker['rate']:.0f} % of its measured {worker['rate']:.1f}/s); "
        f"POST p50 {statistics.median(lat['post_ms']):.1f} ms"
    )
    per_100k = red["decided_bytes"] * 100_000 / MB
    first = red["first_batch"]
    families = ", ".join(
        f"{name} {size / red['total_comments']:.0f} B" for name, size in list(red["families"].items())[:3]
    )
    return [
        Row("worker_throughput", pct, "% of raw", ">= 90 %", pct >= 90, _worker_detail(ctx, out),
            {"worker": worker, "raw": raw}),
        Row("latency_p50", p50, "ms", "info", None, lat_detail, {"p50_ms": p50}),
        Row("latency_p95", p95, "ms", "<= 500 ms", p95 <= 500, lat_detail, {"p95_ms": p95}),
        Row("latency_p99", p99, "ms", "info", None, f"max {max(decision):.0f} ms", {"p99_ms": p99}),
        Row("api_rss", api_rss / MB, "MB", "<= 150 MB", api_rss <= 150 * MB,
            f"peak RSS of `commentmod api` (1 process) under intake load; "
            f"{out['api_rss_paced'] / MB:.0f} MB at {lat['rate']:g}/s", {"bytes": api_rss}),
        Row("worker_rss", out["worker_rss"] / MB, "MB", "<= 1500 MB", out["worker_rss"] <= 1500 * MB,
            f"peak RSS of one worker process ({worker['processes']} ran; all together "
            f"{worker['rss_total'] / MB:.0f} MB with the launcher)", {"bytes": out["worker_rss"]}),
        Row("redis_per_comment", red["decided_bytes"], "B", "info", None,
            f"{per_100k:.0f} MB per 100k decided comments (MEMORY USAGE of every key / comments; "
            f"used_memory delta over the {red['comments']} paced comments "
            f"{red['used_memory_delta_bytes']:.0f} B, acknowledged stream entries trimmed; "
            f"first {first['comments']}: {first['pending_bytes']:.0f} B pending, "
            f"{first['decided_bytes']:.0f} B decided incl. worker start); largest: {families}",
            {**red, "mb_per_100k": per_100k}),
    ]  # fmt: skip


def _on_signal(signum: int, _: Any) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    signal.signal(signal.SIGTERM, _on_signal)
    loadgen_kind = ("wrk" if have_wrk() else "aiohttp") if args.loadgen == "auto" else args.loadgen
    if loadgen_kind == "wrk" and not have_wrk():
        print("bench: --loadgen wrk, but wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 1
    base_dir = args.work_dir or ROOT / "var" / "bench"
    base_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="run-", dir=base_dir))
    needed = plan.comments + int(plan.latency_seconds * plan.rate) + 1
    if args.data:
        texts = comments_from_dir(args.data, needed, args.seed)
    else:
        texts = synthetic_comments(needed, args.seed)
    bodies = [payload(i, t) for i, t in enumerate(texts[:200])]
    procs = Procs(work_dir)
    command = shlex.join([sys.executable, *sys.argv])
    info = machine_info(work_dir, loadgen_kind)
    header = [
        f"commentmod bench{' --quick (smoke: figures are not meaningful)' if plan.quick else ''}",
        f"command: {command}",
        f"machine: {info['cores']} cores, {info['cpu_model']}, {info['memory_gb']} GB RAM, "
        f"load average at start {info['load_average_at_start'][0]} / {info['load_average_at_start'][1]}",
        f"software: Python {info['python']}, {info['redis']}, load generator {info['loadgen']}",
        f"redis AOF: {info['aof_filesystem']}; intake {plan.connections} connections x "
        f"{plan.intake_seconds} s per row; rate limits off",
        "logging: COMMENTMOD_LOG_LEVEL=warning for the throughput rows (API and worker); "
        "intake_everysec_log_info repeats everysec at info",
        f"texts: {'--data ' + str(args.data) if args.data else f'synthetic, seed {args.seed}'}, "
        f"median {statistics.median(len(t) for t in texts):.0f} characters",
    ]
    if loadgen_kind == "aiohttp":
        header.append(
            "WARNING: no wrk, so the Python load generator drives the intake rows; it saturates before the "
            "bare handler does, so the % of bare figures are optimistic (apt-get install -y wrk)"
        )
    rows: list[Row] = []
    ctx = Ctx(plan, procs, work_dir, texts, bodies, LoadGen(loadgen_kind, work_dir, bodies, SITE_KEY,
              plan.connections, plan.wrk_threads), models_dir())  # fmt: skip
    started = time.monotonic()
    error: BaseException | None = None
    try:
        if args.only not in {"protocols", "flood", "languages"}:
            intake, api_rss = intake_rows(ctx)
            rows += intake
        if args.only is None:
            rows += scoring_rows(ctx, api_rss)
        if args.only in {None, "protocols"}:
            rows += protocol_rows(ctx)
        if args.only in {None, "flood"}:
            rows += flood_rows(ctx)
        if args.only in {None, "languages"}:
            rows += language_rows(ctx, args.seed)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    finally:
        procs.stop_all()
    header.append(f"duration: {time.monotonic() - started:.0f} s")
    print(render(rows, header), flush=True)
    if args.json:
        write_json(args.json, rows, {"command": command, "machine": info, "plan": vars(plan),
                                     "error": repr(error) if error else None})  # fmt: skip
    if error is not None:
        print(f"\nbench: error: {error!r}; logs kept in {work_dir}", file=sys.stderr)
        return 1
    shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

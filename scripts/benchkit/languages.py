"""The mixed-language rows: a stream of 60 % English and 40 % German, Portuguese and Korean comments.

* ``mixed_language_throughput``: one durable Redis, one API, ``commentmod worker --processes P`` with the
  default settings (``commentmod-minilm`` for English, ``commentmod-e5`` for de/pt/ko, both loaded); the
  mixed comments are posted first, then the workers start and are timed from the moment every process
  consumes to the last decision (as ``worker_throughput``). The decisions' ``models`` and ``language``
  say which model scored how many, and how many were detected as the language they were written in.
* ``mixed_language_worker_rss``: peak resident memory of one worker process meanwhile, both models loaded.
* ``language_detection_us``: ``LanguageDetector.identify`` (py3langid) alone on the same texts in this
  process, in batches of the worker's size: CPU microseconds per comment, and per language.

The English share is the bench's own synthetic English (``benchkit.texts.synthetic_comments``, the same
seed); the German, Portuguese and Korean comments are built here from the templates and word lists below
(short news-site comments on local politics: openers, subject + predicate sentences, the odd insult,
emoji or link), nothing read from a data set.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis as redis_sync

from benchkit.phases import PREFIX, Ctx, start_api
from benchkit.procs import RssSampler, cpu_seconds, python_cmd, start_redis
from benchkit.report import Row
from benchkit.scoring import first_heartbeats, post_comments, wait_decided, window_rate
from benchkit.texts import payload, synthetic_comments
from service.core.keys import Keys
from service.launcher import worker_names

MB = 1_000_000
ENGLISH_SHARE = 0.6
LANGUAGES = ("de", "pt", "ko")  # the other 40 %, in equal parts: what commentmod-e5 serves
GOAL_RATE = 150.0  # comments per second end to end
GOAL_RSS_MB = 1500  # one worker process, both models loaded
WORKER = "worker-languages"


@dataclass(frozen=True)
class Lexicon:
    """One language's comment parts. A sentence is ``pattern`` filled with one of each list."""

    openers: tuple[str, ...]
    subjects: tuple[str, ...]
    predicates: tuple[str, ...]
    tails: tuple[str, ...]
    ends: tuple[str, ...]
    rude: tuple[str, ...]  # whole sentences, in ~8 % of comments (as the English ones)
    pattern: str  # "{subject} {predicate}{tail}{end}"
    median: int  # characters


GERMAN = Lexicon(
    openers=("Danke für den Artikel.", "Guter Beitrag!", "Da bin ich anderer Meinung.",
             "Interessant zu lesen.", "Endlich sagt es mal jemand.", "Als Anwohner kann ich nur sagen:",
             "Hmm.", "Gut geschrieben.", "Schon wieder dieses Thema?", "Ganz ehrlich:"),
    subjects=("Der Stadtrat", "Die Regierung", "Der Bürgermeister", "Die Polizei", "Die neue Brücke",
              "Der Haushalt der Stadt", "Die Miete in unserem Viertel", "Der Artikel", "Die Studie",
              "Die Schule um die Ecke", "Der Nahverkehr", "Das Krankenhaus", "Die Opposition",
              "Jeder hier im Ort"),
    predicates=("hat das Problem wieder einmal nicht verstanden", "ist viel zu teuer geworden",
                "sollte endlich etwas für die Bürger tun", "wird im nächsten Jahr noch wichtiger",
                "war schon immer ein schwieriges Thema", "braucht mehr Geld und bessere Ideen",
                "zeigt genau, was hier falsch läuft", "kommt wie immer viel zu spät",
                "ist besser als sein Ruf", "macht am Ende nur die Steuern teurer",
                "hat mit der Wirklichkeit wenig zu tun", "verdient eine ehrliche Debatte"),
    tails=("", "", "", ", meiner Meinung nach", ", wie jeder sehen kann", ", aber niemand hört zu",
           ", leider", " und das wissen alle", ", oder sehe ich das falsch"),
    ends=(".", ".", ".", "!", "?"),
    rude=("Was für ein Idiot.", "So ein Schwachsinn.", "Halt einfach die Klappe.", "Erbärmlich, wirklich.",
          "Du bist so ein Vollpfosten.", "Dümmer geht es nicht."),
    pattern="{subject} {predicate}{tail}{end}",
    median=100,
)  # fmt: skip
PORTUGUESE = Lexicon(
    openers=("Obrigado pela matéria.", "Ótimo artigo!", "Discordo totalmente.", "Leitura interessante.",
             "Finalmente alguém falou.", "Como morador do bairro,", "Hmm.", "Bem escrito.",
             "De novo esse assunto?", "Sinceramente,"),
    subjects=("A prefeitura", "O governo", "O prefeito", "A polícia", "A nova ponte",
              "O orçamento da cidade", "O aluguel no nosso bairro", "O artigo", "O estudo",
              "A escola do bairro", "O transporte público", "O hospital", "A oposição",
              "Todo mundo aqui na cidade"),
    predicates=("não entendeu o problema mais uma vez", "ficou caro demais para todo mundo",
                "precisa fazer alguma coisa pelos moradores", "vai ser ainda mais importante no ano que vem",
                "sempre foi um assunto complicado", "precisa de mais dinheiro e de ideias melhores",
                "mostra exatamente o que está errado aqui", "chegou tarde como sempre",
                "é melhor do que parece", "só vai aumentar os impostos no fim",
                "não tem nada a ver com a realidade", "merece um debate honesto"),
    tails=("", "", "", ", na minha opinião", ", como todo mundo sabe", ", mas ninguém escuta",
           ", infelizmente", " e todos sabem disso", ", ou estou enganado"),
    ends=(".", ".", ".", "!", "?"),
    rude=("Que idiota.", "Que texto lixo.", "Cala a boca.", "Ridículo, patético.", "Seu imbecil.",
          "Mais burro impossível."),
    pattern="{subject} {predicate}{tail}{end}",
    median=100,
)  # fmt: skip
KOREAN = Lexicon(
    openers=("좋은 기사 감사합니다.", "동의하기 어렵네요.", "흥미롭게 읽었습니다.", "드디어 누가 말해주네요.",
             "동네 주민으로서 한마디 하자면,", "음..", "잘 쓴 기사네요.", "또 이 얘기인가요?"),
    subjects=("시의회가", "정부가", "시장이", "경찰이", "새 다리가", "우리 동네 월세가", "이 기사가",
              "동네 학교가", "버스 요금이", "시 예산이", "야당이", "병원이"),
    predicates=("또 문제를 제대로 이해하지 못했네요", "너무 비싸졌어요", "주민들을 위해 뭔가 해야 합니다",
                "내년에는 더 중요해질 것 같아요", "항상 어려운 문제였죠",
                "돈과 더 나은 아이디어가 필요해 보입니다", "여기서 뭐가 잘못됐는지 정확히 보여줍니다",
                "왜 이렇게 늦게 나왔는지 모르겠네요", "생각보다 괜찮은 것 같습니다",
                "결국 세금만 올리는 거 아닌가요", "현실이랑 너무 동떨어져 있어요",
                "제대로 된 토론이 필요합니다"),
    tails=("", "", "", "솔직히 ", "제 생각에는 ", "근데 ", "아무리 봐도 ", "기사 보니까 "),
    ends=(".", ".", "!", "..", "?", ""),
    rude=("진짜 멍청하네.", "이런 쓰레기 기사.", "입 좀 다물어라.", "한심하다 정말.", "바보 같은 소리 하네.",
          "머리가 있긴 한 거냐?"),
    pattern="{tail}{subject} {predicate}{end}",
    median=60,  # Korean says as much in fewer characters
)  # fmt: skip
LEXICONS = {"de": GERMAN, "pt": PORTUGUESE, "ko": KOREAN}
_EXTRA = (" 👍", " 🙄", " 😀", " 2025", " https://example.com/artigo", " 10 €")


def _sentence(rng: random.Random, lex: Lexicon) -> str:
    return lex.pattern.format(subject=rng.choice(lex.subjects), predicate=rng.choice(lex.predicates),
                              tail=rng.choice(lex.tails), end=rng.choice(lex.ends))  # fmt: skip


def _join(parts: list[str]) -> str:
    """Parts joined by spaces; a part after one ending in ',' or ':' starts in lower case."""
    out = parts[0]
    for part in parts[1:]:
        out += " " + (part[0].lower() + part[1:] if out.endswith((",", ":")) else part)
    return out


def comment(rng: random.Random, lex: Lexicon) -> str:
    """One comment of whole sentences, its length log-normal around the language's median (as the
    English ones); an opener alone is a comment too ("Danke für den Artikel.")."""
    target = int(min(2000, max(12, rng.lognormvariate(math.log(lex.median), 0.8))))
    parts = [rng.choice(lex.openers)] if rng.random() < 0.4 else []
    size = sum(len(p) + 1 for p in parts)
    while size < target:
        sentence = _sentence(rng, lex)
        if parts and size + len(sentence) > target + 40:
            break  # the comment ends here rather than far past its length
        parts.append(sentence)
        size += len(sentence) + 1
    if parts[-1].endswith((",", ":")):
        parts.append(_sentence(rng, lex))
    if rng.random() < 0.08:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(lex.rude))
    text = _join(parts)
    if rng.random() < 0.06:
        text += rng.choice(_EXTRA)
    return text


def mixed_comments(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``count`` (language, text) pairs, shuffled: 60 % the bench's synthetic English, the rest German,
    Portuguese and Korean in equal parts."""
    rng = random.Random(seed)
    others = round(count * (1 - ENGLISH_SHARE))
    codes = ["en"] * (count - others) + [LANGUAGES[i % len(LANGUAGES)] for i in range(others)]
    rng.shuffle(codes)
    english = iter(synthetic_comments(count - others, seed))
    return [(code, next(english) if code == "en" else comment(rng, LEXICONS[code])) for code in codes]


# ----------------------------------------------------------------------------- the worker run


def _prepare_models(ctx: Ctx, env: dict[str, str]) -> None:
    """Assemble both built-in models in this process before the workers start, so that their start
    measures loading only and two processes never assemble one cache at once."""
    from service.core.settings import Settings
    from workers.scoring.modelstore import resolve

    settings = Settings.from_env(env)
    names = [settings.toxicity_model]
    if settings.multilingual_model != "none":
        names.append(settings.multilingual_model)
    ctx.say(f"languages: preparing {', '.join(names)} in {ctx.models_dir}")
    for name in names:
        resolve(name, ctx.models_dir)


def stream_run(ctx: Ctx, mixed: list[tuple[str, str]]) -> dict[str, Any]:
    """Post the mixed comments, start the workers, time them; each decision's model and language."""
    plan = ctx.plan
    parts = plan.worker_processes
    redis_dir = ctx.work_dir / "redis-languages"
    redis_proc, url = start_redis(ctx.procs, redis_dir, "always", "redis-languages")
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    try:
        env = ctx.env(url, "warning", WORKER_NAME="bench-languages", HEARTBEAT_TTL_S="120")
        _prepare_models(ctx, env)
        api, base = start_api(ctx, url, 1, "warning", "api-languages")
        ctx.say(f"languages: posting {len(mixed)} comments (60 % en, 40 % de/pt/ko)")
        posted = asyncio.run(post_comments(base, [payload(i, text) for i, (_, text) in enumerate(mixed)]))
        ids = [cid for cid, _ in posted]
        ctx.say(f"languages: starting `commentmod worker --processes {parts}` (default models)")
        launched = time.time()
        command = python_cmd("-m", "service.cli", "worker", "--processes", str(parts))
        worker = ctx.procs.start(WORKER, command, env)
        names = worker_names("bench-languages", parts)
        with RssSampler(worker.pid, 0.2) as rss:
            beats = first_heartbeats(client, Keys(PREFIX).workers, names, worker, ctx, WORKER)
            cpu_before = cpu_seconds(worker.pid)
            times = wait_decided(client, ids, 300 + len(ids) / 20, worker, ctx, WORKER)
            cpu = cpu_seconds(worker.pid) - cpu_before
        decisions = _decisions(client, ids)
        ctx.procs.stop(worker, 30)
        ctx.procs.stop(api)
    finally:
        client.close()
        ctx.procs.stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)
    figures = window_rate(times, beats)
    figures.update(
        processes=parts, startup_s=min(beats) - launched, cpu_s_per_comment=cpu / len(ids),
        rss=max(rss.peak_by_pid.values(), default=0), rss_total=rss.peak,
    )  # fmt: skip
    figures["routing"] = _routing(decisions, [code for code, _ in mixed])
    return figures


def _decisions(client: redis_sync.Redis, ids: list[str]) -> list[dict[str, Any]]:
    keys = Keys(PREFIX)
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        pipe.hget(keys.comment(cid), "decision")
    return [json.loads(raw) if raw else {} for raw in pipe.execute()]


def _routing(decisions: list[dict[str, Any]], written: list[str]) -> dict[str, Any]:
    """Which model scored each comment (its decision's ``models.toxicity``; none when its language got a
    ``language_unsupported`` reason), the detected languages, and how many match the written one."""
    models: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    agree: Counter[str] = Counter()
    for decision, code in zip(decisions, written, strict=True):
        reasons = {r.get("code") for r in decision.get("reasons", [])}
        if "language_unsupported" in reasons:
            models["not scored (language_unsupported)"] += 1
        else:
            models[str(decision.get("models", {}).get("toxicity", "?")).split("@")[0]] += 1
        found = (decision.get("language") or {}).get("code", "?")
        detected[found] += 1
        agree[code] += found == code
        verdicts[decision.get("verdict", "?")] += 1
    total = len(written)
    per_language = {code: agree[code] / n for code, n in Counter(written).items()}
    return {
        "models": dict(models.most_common()),
        "detected": dict(detected.most_common()),
        "verdicts": dict(verdicts.most_common()),
        "written": dict(Counter(written).most_common()),
        "detected_as_written": sum(agree.values()) / max(total, 1),
        "detected_as_written_by_language": per_language,
    }


def _shares(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{name} {100 * n / total:.1f} %" for name, n in counts.items())


# ------------------------------------------------------------------------ language detection


def detection_cost(mixed: list[tuple[str, str]], batch_size: int, runs: int) -> dict[str, Any]:
    """``LanguageDetector.identify`` in batches of ``batch_size`` over every text, ``runs`` times: median
    CPU and wall microseconds per comment, overall and per written language."""
    from workers.scoring.config import LanguageConfig
    from workers.scoring.language import LanguageDetector
    from workers.scoring.types import CommentText

    detector = LanguageDetector(LanguageConfig(), frozenset({"en", *LANGUAGES}))
    comments = [CommentText(id=str(i), body=text) for i, (_, text) in enumerate(mixed)]
    detector.identify(comments[:16])  # warm-up

    def timed(group: list[CommentText]) -> tuple[float, float]:
        cpu, wall = [], []
        for _ in range(runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(group), batch_size):
                detector.identify(group[i : i + batch_size])
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        return 1e6 * statistics.median(cpu) / len(group), 1e6 * statistics.median(wall) / len(group)

    cpu_us, wall_us = timed(comments)
    by_language = {
        code: timed([c for c, (written, _) in zip(comments, mixed, strict=True) if written == code])[0]
        for code in ("en", *LANGUAGES)
    }
    found = detector.identify(comments)
    agree = sum(f.code == written for f, (written, _) in zip(found, mixed, strict=True))
    return {"cpu_us": cpu_us, "wall_us": wall_us, "cpu_us_by_language": by_language, "runs": runs,
            "comments": len(comments), "detected_as_written": agree / len(comments)}  # fmt: skip


# ------------------------------------------------------------------------------------- rows


def language_rows(ctx: Ctx, seed: int) -> list[Row]:
    plan = ctx.plan
    mixed = mixed_comments(plan.comments, seed)
    run = stream_run(ctx, mixed)
    ctx.say("languages: language detection alone on the same texts")
    detection = detection_cost(mixed, plan.batch_size, 3 if plan.quick else 7)
    routing = run["routing"]
    median = {code: statistics.median(len(t) for c, t in mixed if c == code) for code in ("en", *LANGUAGES)}
    written = ", ".join(f"{c} {n} (median {median[c]:.0f} characters)" for c, n in routing["written"].items())
    agreed = routing["detected_as_written_by_language"]
    by_language = ", ".join(f"{c} {100 * share:.1f} %" for c, share in agreed.items())
    rate = run["rate"]
    throughput = (
        f"{rate:.1f} comments/s end to end by `worker --processes {run['processes']}`, default settings "
        f"({run['comments']} of {run['posted']} decided in {run['seconds']:.1f} s, every process consuming); "
        f"written: {written}; scored by (decisions' models): {_shares(routing['models'])}; detected as "
        f"written {100 * routing['detected_as_written']:.1f} % ({by_language}); verdicts "
        f"{_shares(routing['verdicts'])}; CPU per comment {1000 * run['cpu_s_per_comment']:.2f} ms; "
        f"batches of {plan.batch_size}; worker log warning"
    )
    rss = run["rss"]
    detail_rss = (
        f"peak RSS of one worker process with both models loaded ({run['processes']} ran; all together "
        f"{run['rss_total'] / MB:.0f} MB with the launcher); first heartbeat {run['startup_s']:.1f} s "
        f"after the start (models already assembled)"
    )
    per_comment_us = 1e6 * run["cpu_s_per_comment"]
    detection_detail = (
        f"LanguageDetector.identify (py3langid) alone on the {detection['comments']} mixed texts in batches "
        f"of {plan.batch_size}, 1 process, median of {detection['runs']}: CPU per comment "
        + ", ".join(f"{c} {us:.0f} us" for c, us in detection["cpu_us_by_language"].items())
        + f"; wall {detection['wall_us']:.0f} us/comment; "
        f"{100 * detection['cpu_us'] / max(per_comment_us, 1e-9):.1f} % of the worker's CPU per comment "
        f"in the mixed stream ({per_comment_us:.0f} us); detected as written "
        f"{100 * detection['detected_as_written']:.1f} %"
    )
    return [
        Row("mixed_language_throughput", rate, "comments/s", f">= {GOAL_RATE:g}/s", rate >= GOAL_RATE,
            throughput, {"worker": run}),
        Row("mixed_language_worker_rss", rss / MB, "MB", f"<= {GOAL_RSS_MB} MB", rss <= GOAL_RSS_MB * MB,
            detail_rss, {"bytes": rss, "total_bytes": run["rss_total"]}),
        Row("language_detection_us", detection["cpu_us"], "us/comment", "info", None, detection_detail,
            detection),
    ]  # fmt: skip

"""Fit the answer model (index/data/answer_model.json): which sentence answers, and whether to.

    python bench/fit_answer_model.py --data-dir DEVSTORE \
        --questions ../shared/eval/newsqa-dev.jsonl --questions bench/chat-questions.jsonl

DEVSTORE is a data directory holding the corpus the question sets are about (``newsbot
--data-dir DEVSTORE ingest ../shared/eval/newsqa-corpus.jsonl``). Every question goes through
``Engine.deliberate`` (parse, retrieve, rerank, sentence signals); then, with 5 folds of
questions held out in turn:

1. the sentence model, a logistic regression over ``SENTENCE_FEATURES``: is this sentence
   the answer (a chat question's answer span in a sentence of its gold article; a benchmark
   question's gold evidence fact)? Each question weighs the same, and each set half;
2. the confidence model over ``CONFIDENCE_FEATURES`` of the sentence the held-out sentence
   model puts first: is the question answerable? Its threshold is the highest at which no
   set abstains on more than 5% of its answerable questions (held-out probabilities);
3. the typed margin: how far below the best a sentence holding the kind of thing asked for
   (a date for "when" ...) may score and still go first (``TYPED_MARGINS``, the most held-out
   first-sentence hits that cost no set over ``MARGIN_COST``);
4. the recency margin: of a few, the one with the most held-out first-sentence hits that
   costs no set over ``MARGIN_COST``.

Prints a table per set and writes the model with what it was fitted on and its held-out
scores; ``--out`` defaults to the shipped file.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.eval.harness import EvalQuestion, load_questions
from index.confidence import CONFIDENCE_FEATURES
from index.config import EngineConfig
from index.engine import Deliberation, Engine
from index.fitted import FORMAT, AnswerModel, LinearModel
from index.sentences import SENTENCE_FEATURES, choose_sentences, first_choice

FOLDS = 5
MAX_FALSE_ABSTENTION = 0.05
MARGINS = (0.0, 0.25, 0.5, 0.75, 1.0)
# What newest-first may cost a set's held-out first-sentence hits: a third of the noise of a
# rate over ~300 questions.
MARGIN_COST = 0.01
TYPED_MARGINS = (0.0, 1.0, 2.0, 3.0)
RIDGE = 1e-2
_SPACE = re.compile(r"\s+")


def _key(text: str) -> str:
    return _SPACE.sub("", text).casefold()


@dataclass(frozen=True)
class Margins:
    typed: float = 0.0
    recency: float = 0.0


@dataclass
class Case:
    """One question, taken to the decision, with each sentence's label."""

    set_name: str
    question: EvalQuestion
    d: Deliberation
    labels: np.ndarray  # per unit: is it the answer
    fold: int = 0


def unit_labels(q: EvalQuestion, d: Deliberation, gold_urls: set[str]) -> np.ndarray:
    out = np.zeros(len(d.units))
    if not q.answerable:
        return out
    facts = [_key(e) for e in q.evidence if e.strip()]
    answer = _key(q.answer)
    for i, u in enumerate(d.units):
        rp = d.passages[u.passage_index]
        text = _key(rp.passage.text[u.span.start : u.span.end])
        if gold_urls:  # a chat question: its answer span, in its gold article
            out[i] = float(rp.article.url in gold_urls and answer in text)
        else:
            out[i] = float(any(f in text or (len(text) > 40 and text in f) for f in facts))
    return out


def collect(
    engine: Engine, sets: dict[str, list[EvalQuestion]], urls: dict[str, set[str]]
) -> list[Case]:
    cases = []
    for name, questions in sets.items():
        for n, q in enumerate(questions):
            d = engine.deliberate(q.question, today=q.asked_on)
            gold = urls.get(q.id, set()) if q.answerable else set()
            cases.append(Case(name, q, d, unit_labels(q, d, gold), fold=n % FOLDS))
    return cases


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Weighted L2-regularized logistic regression by Newton's method."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(xb.shape[1])
    reg = RIDGE * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(xb @ beta, -50, 50)))
        grad = xb.T @ (w * (p - y)) + reg @ beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + reg + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def _linear(names: tuple[str, ...], weights: np.ndarray, bias: float) -> LinearModel:
    return LinearModel(
        {n: round(float(v), 5) for n, v in zip(names, weights, strict=True)}, round(bias, 5)
    )


def fit_sentence_model(cases: list[Case]) -> LinearModel:
    rows, ys, ws = [], [], []
    per_set = {c.set_name for c in cases}
    counts = {s: sum(1 for c in cases if c.set_name == s and c.labels.any()) for s in per_set}
    for c in cases:
        if not c.labels.any():
            continue
        n = len(c.labels)
        rows.append(c.d.features)
        ys.append(c.labels)
        ws.append(np.full(n, 1.0 / (n * counts[c.set_name] * len(per_set))))
    w, b = fit_logistic(np.vstack(rows), np.concatenate(ys), np.concatenate(ws) * 1000)
    return _linear(SENTENCE_FEATURES, w, b)


def rescored(engine: Engine, c: Case, model: LinearModel, margins: Margins) -> Deliberation:
    """The case's deliberation with its sentences ranked by ``model`` and ordered as the
    engine quotes them, and its signals taken again."""
    recency = 0.0 if c.d.parsed.periods or c.d.parsed.dates or is_long(c) else margins.recency
    ranked = first_choice(
        choose_sentences(c.d.units, c.d.features, model),
        c.d.passages,
        kind=c.d.kind,
        recency_margin=recency,
        typed_margin=margins.typed,
    )
    d = replace(c.d, ranked=ranked)
    return replace(d, signals=engine.signals(d))


def first_hit(c: Case, d: Deliberation) -> bool:
    if not d.ranked:
        return False
    index = {id(u): i for i, u in enumerate(d.units)}
    return bool(c.labels[index[id(d.ranked[0].unit)]])


def first_hit_rates(engine: Engine, cases: list[Case], margins: Margins) -> dict[str, float]:
    answerable = [c for c in cases if c.question.answerable]
    held = held_out_sentences(engine, answerable, margins)
    hits: dict[str, list[bool]] = {}
    for i, c in enumerate(answerable):
        hits.setdefault(c.set_name, []).append(first_hit(c, held[i]))
    return {n: round(float(np.mean(v)), 3) for n, v in hits.items()}


def choose_margin(engine: Engine, cases: list[Case], trials: list[Margins]) -> Margins:
    """Of ``trials`` (the first the baseline), the one with the most held-out first-sentence
    hits over the sets, among those that cost no set over ``MARGIN_COST``."""
    rates = {m: first_hit_rates(engine, cases, m) for m in trials}
    for m, r in rates.items():
        print(f"typed margin {m.typed}, recency margin {m.recency}: first-sentence hits {r}")
    base = rates[trials[0]]
    fair = [m for m in trials if all(rates[m][n] >= base[n] - MARGIN_COST for n in base)]
    return max(fair, key=lambda m: (sum(rates[m].values()), -trials.index(m)))


def signal_row(d: Deliberation) -> np.ndarray:
    return np.array([float(getattr(d.signals, n)) for n in CONFIDENCE_FEATURES])


LONG_FROM_WORDS = 13


def is_long(c: Case) -> bool:
    return len(set(c.d.parsed.tokens)) >= LONG_FROM_WORDS


def fit_confidence(cases: list[Case], held: dict[int, Deliberation]) -> dict[bool, LinearModel]:
    """One model for short questions and one for long ones."""
    return {
        long: _fit_confidence(cases, {i: d for i, d in held.items() if is_long(cases[i]) == long})
        for long in (False, True)
    }


def _fit_confidence(cases: list[Case], held: dict[int, Deliberation]) -> LinearModel:
    sets = {c.set_name for c in cases}
    rows, ys, ws = [], [], []
    for i, c in enumerate(cases):
        if i not in held or held[i].signals is None:
            continue
        n_set = sum(1 for k in cases if k.set_name == c.set_name)
        rows.append(signal_row(held[i]))
        ys.append(float(c.question.answerable))
        ws.append(1.0 / (n_set * len(sets)))
    w, b = fit_logistic(np.vstack(rows), np.array(ys), np.array(ws) * 1000)
    return _linear(CONFIDENCE_FEATURES, w, b)


def choose_threshold(cases: list[Case], probs: np.ndarray, long: bool) -> float:
    """The highest threshold at which no set abstains on over 5% of its answerable questions
    of this length."""
    best = 0.0
    for t in np.linspace(0.01, 0.99, 99):
        ok = True
        for name in {c.set_name for c in cases}:
            answerable = [
                p
                for c, p in zip(cases, probs, strict=True)
                if c.set_name == name and c.question.answerable and is_long(c) == long
            ]
            if len(answerable) >= 20 and np.mean(np.array(answerable) < t) > MAX_FALSE_ABSTENTION:
                ok = False
        if ok:
            best = float(t)
    return round(best, 2)


def thresholds(cases: list[Case], probs: np.ndarray) -> dict[bool, float]:
    return {long: choose_threshold(cases, probs, long) for long in (False, True)}


def held_out_sentences(
    engine: Engine, cases: list[Case], margins: Margins
) -> dict[int, Deliberation]:
    """Per case, its deliberation rescored by a sentence model fitted without its fold."""
    held: dict[int, Deliberation] = {}
    for fold in range(FOLDS):
        model = fit_sentence_model([c for c in cases if c.fold != fold])
        for i, c in enumerate(cases):
            if c.fold == fold:
                held[i] = rescored(engine, c, model, margins)
    return held


def held_out(
    engine: Engine, cases: list[Case], margins: Margins
) -> tuple[dict[int, Deliberation], np.ndarray]:
    """Per case, its held-out deliberation and its confidence from a confidence model
    fitted without its fold."""
    held = held_out_sentences(engine, cases, margins)
    probs = np.zeros(len(cases))
    for fold in range(FOLDS):
        train = [i for i, c in enumerate(cases) if c.fold != fold]
        sub = [cases[i] for i in train]
        models = fit_confidence(sub, {n: held[i] for n, i in enumerate(train)})
        for i, c in enumerate(cases):
            if c.fold == fold:
                values = (
                    dict(zip(CONFIDENCE_FEATURES, signal_row(held[i]), strict=True))
                    if held[i].signals
                    else None
                )
                probs[i] = models[is_long(c)].logit(values) if values else -50.0
    return held, 1 / (1 + np.exp(-probs))


def scores(
    engine: Engine,
    cases: list[Case],
    held: dict[int, Deliberation],
    probs: np.ndarray,
    threshold: dict[bool, float],
) -> dict[str, dict[str, float]]:
    out = {}
    for name in dict.fromkeys(c.set_name for c in cases):
        idx = [i for i, c in enumerate(cases) if c.set_name == name]
        answerable = [i for i in idx if cases[i].question.answerable]
        labelled = [i for i in answerable if cases[i].labels.any()]
        unanswerable = [i for i in idx if not cases[i].question.answerable]
        out[name] = {
            "questions": len(idx),
            "answer_sentence_retrieved": round(len(labelled) / max(len(answerable), 1), 3),
            "first_sentence_hit": round(
                float(np.mean([first_hit(cases[i], held[i]) for i in answerable])), 3
            ),
            "coverage_first_hit": round(
                float(
                    np.mean(
                        [
                            first_hit(
                                cases[i], rescored(engine, cases[i], COVERAGE_ONLY, Margins())
                            )
                            for i in answerable
                        ]
                    )
                ),
                3,
            ),
            "false_abstention": round(
                float(np.mean([probs[i] < threshold[is_long(cases[i])] for i in answerable])), 3
            ),
            "abstention": round(
                float(np.mean([probs[i] < threshold[is_long(cases[i])] for i in unanswerable])), 3
            )
            if unanswerable
            else None,
        }
    return out


COVERAGE_ONLY = LinearModel({"coverage": 1.0, "rank": -0.1}, 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, action="append", required=True)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/eval/newsqa-corpus.jsonl"))
    parser.add_argument("--cases", type=Path, help="pickle of the deliberations: reused if present")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "index/data/answer_model.json",
    )
    args = parser.parse_args()
    urls_by_doc = {}
    for line in args.corpus.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        urls_by_doc[doc["id"]] = doc["url"]
    sets: dict[str, list[EvalQuestion]] = {}
    gold_urls: dict[str, set[str]] = {}
    for path in args.questions:
        questions, _ = load_questions(path)
        sets[path.stem] = questions
        for line in path.read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            if "asked_on" in obj and obj.get("evidence_doc_ids"):  # chat style: one gold article
                gold_urls[str(obj["id"])] = {urls_by_doc[d] for d in obj["evidence_doc_ids"]}
    config = EngineConfig(data_dir=args.data_dir).for_many_questions()
    # Deliberating needs no fitted number (the models only read its output): a neutral one.
    neutral = LinearModel({}, 0.0)
    start = AnswerModel(neutral, neutral, neutral, LONG_FROM_WORDS, 0.5, 0.5, 0.0, 0.0, {})
    with Engine(config, answer_model=start) as engine:
        engine.encoder.encode_question("warm up")
        if args.cases and args.cases.exists():
            cases = pickle.loads(args.cases.read_bytes())
        else:
            cases = collect(engine, sets, gold_urls)
            if args.cases:
                args.cases.write_bytes(pickle.dumps(cases))
        typed = choose_margin(engine, cases, [Margins(typed=m) for m in TYPED_MARGINS])
        margins = choose_margin(engine, cases, [replace(typed, recency=m) for m in MARGINS])
        held, probs = held_out(engine, cases, margins)
        threshold = thresholds(cases, probs)
        final = scores(engine, cases, held, probs, threshold)
        sentence = fit_sentence_model(cases)
        final_held = {i: rescored(engine, c, sentence, margins) for i, c in enumerate(cases)}
        confidence = fit_confidence(cases, final_held)
    data = {
        "format": FORMAT,
        "sentence": {"weights": sentence.weights, "bias": sentence.bias},
        "confidence": {
            "long_from_words": LONG_FROM_WORDS,
            **{
                ("long" if long else "short"): {"weights": m.weights, "bias": m.bias}
                for long, m in confidence.items()
            },
        },
        "threshold": {"short": threshold[False], "long": threshold[True]},
        "recency_margin": margins.recency,
        "typed_margin": margins.typed,
        "meta": {
            "written_by": "bench/fit_answer_model.py",
            "fitted": datetime.now(UTC).date().isoformat(),
            "question_sets": {n: len(q) for n, q in sets.items()},
            "folds": FOLDS,
            "held_out": final,
        },
    }
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(
        f"{'set':<22} {'n':>5} {'sent. in pool':>13} {'1st hit':>8} {'coverage 1st':>12} {'false abst.':>11} {'abst.':>6}"
    )
    for name, v in final.items():
        abst = "-" if v["abstention"] is None else f"{v['abstention']:.3f}"
        print(
            f"{name:<22} {v['questions']:>5} {v['answer_sentence_retrieved']:>13.3f} {v['first_sentence_hit']:>8.3f} {v['coverage_first_hit']:>12.3f} {v['false_abstention']:>11.3f} {abst:>6}"
        )
    print(f"thresholds {threshold}, margins {margins}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

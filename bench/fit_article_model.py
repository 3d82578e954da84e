"""Fit ``index.rerank.ArticleWeights``: does an article of a question's reranked pool hold a fact?

    python bench/fit_article_model.py

Ingests ``newsqa-corpus.jsonl`` once into a cached data directory, takes each answerable dev question's best
``EngineConfig.article_depth`` fused passages as ``quote_answer`` scores them for the rerank,
and fits a logistic regression of "one of this article's passages there holds a gold fact" on
``article_features``. The AUROC is from 5-fold cross-validation over questions, so it is what
unseen questions of the same kind would see. Paste the printed weights into
``ArticleWeights``; ``newsbot eval`` measures what they do to the top 10.

Results: a line on stdout and ``bench/results/fit_article_model.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from corpus import CACHE_ROOT, CORPUS_PATH, QUESTIONS_PATH, log  # noqa: E402

from bot.eval.harness import load_questions, passage_hits  # noqa: E402
from index.config import EngineConfig  # noqa: E402
from index.engine import Engine, for_question_kind  # noqa: E402
from index.question import question_kind  # noqa: E402
from index.rerank import ArticleWeights, article_features, headline_free_coverage  # noqa: E402
from index.retrieve import parse_query  # noqa: E402
from index.sentences import sentence_units  # noqa: E402

RESULTS = REPO / "bench" / "results" / "fit_article_model.json"
FEATURES = [f.name for f in dataclasses.fields(ArticleWeights) if f.name != "bias"]


def collect(engine: Engine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per (answerable question, pooled article): features, label, question number."""
    cfg = engine.config
    questions, _ = load_questions(QUESTIONS_PATH)
    rows, labels, groups = [], [], []
    for n, q in enumerate(q for q in questions if q.answerable):
        parsed = parse_query(q.question, engine.tokenizer, engine.backend.known_sources())
        kind = question_kind(q.question)
        parsed = for_question_kind(parsed, cfg, kind, "hybrid")  # as quote_answer does
        vector = engine.encoder.encode_question(q.question)
        hits = engine.backend.search(parsed, vector, k=cfg.article_depth)
        pool = engine._load_passages(hits.passage_ids, hits.scores)
        units = sentence_units(pool, engine.tokenizer, "other", q.question)
        coverage, *by_part = headline_free_coverage(
            pool, units, [parsed.tokens, *parsed.clauses], engine.backend.idf, engine.tokenizer
        )
        scores = [
            rp.score + cfg.sentence_weight * coverage.get(i, 0.0) for i, rp in enumerate(pool)
        ]
        articles = [rp.article.id for rp in pool]
        features = article_features(
            scores, articles, [rp.article.source for rp in pool], by_part, parsed.sources
        )
        hits_fact = passage_hits([rp.passage.text for rp in pool], q.evidence)
        holding = {rp.article.id for rp, hit in zip(pool, hits_fact, strict=True) if hit}
        for article, row in features.items():
            rows.append(row)
            labels.append(article in holding)
            groups.append(n)
    return np.array(rows), np.array(labels), np.array(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    base = EngineConfig()
    tag = f"pw{base.passage_words}-k{base.bm25_k1}-b{base.bm25_b}"
    config = dataclasses.replace(base, data_dir=CACHE_ROOT / f"calibrate-{tag}" / "data")
    with Engine(config.for_many_questions()) as engine:
        if engine.stats().articles == 0:
            log(f"ingesting {CORPUS_PATH} into {config.data_dir}")
            engine.ingest_paths([CORPUS_PATH])
        x, y, groups = collect(engine)
    model = LogisticRegression(C=1.0, max_iter=10_000)
    p = cross_val_predict(
        model, x, y, cv=GroupKFold(args.folds), groups=groups, method="predict_proba"
    )[:, 1]
    model.fit(x, y)
    weights = dict(zip(FEATURES, (round(float(w), 2) for w in model.coef_[0]), strict=True))
    weights["bias"] = round(float(model.intercept_[0]), 2)
    result = {
        "engine": tag,
        "pool": config.article_depth,
        "articles": len(y),
        "holding_a_fact": int(y.sum()),
        "cv_auroc": round(float(roc_auc_score(y, p)), 4),
        "weights": weights,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(
        f"engine {tag}, pool {result['pool']}: {result['articles']} articles, "
        f"{result['holding_a_fact']} holding a fact; cross-validated AUROC {result['cv_auroc']}"
    )
    print("weights " + ", ".join(f"{k}={v}" for k, v in weights.items()))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()

"""Fit the answer-or-abstain model: a logistic regression over ``ConfidenceSignals``.

    python bench/calibrate_abstention.py                       # dev questions, default engine
    python bench/calibrate_abstention.py --target-abstention 0.92

Ingests ``newsqa-corpus.jsonl`` once into a cached data directory (per ``passage_words``,
``bm25_k1`` and ``bm25_b``), answers every dev question with the hybrid retriever, and fits
answerable-vs-not on the signals the engine recorded on each ``Answer``. The threshold is
chosen on 5-fold cross-validated probabilities, not on the fitted ones, so the printed
abstention and false-abstention rates are what unseen questions of the same kind would see.
Paste the printed weights into ``index.quote.ConfidenceWeights`` and the threshold into
``EngineConfig.abstain_threshold``.

Results: a table on stdout and ``bench/results/calibrate_abstention.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from corpus import CACHE_ROOT, CORPUS_PATH, QUESTIONS_PATH, log  # noqa: E402

from index.config import EngineConfig  # noqa: E402
from index.engine import Engine  # noqa: E402
from index.evaluate import load_questions  # noqa: E402
from index.model import ConfidenceSignals  # noqa: E402

RESULTS = REPO / "bench" / "results" / "calibrate_abstention.json"
FEATURES = [f.name for f in dataclasses.fields(ConfidenceSignals)]


def collect(config: EngineConfig) -> tuple[np.ndarray, np.ndarray]:
    """One row of signals per question, and whether it is answerable."""
    questions, _ = load_questions(QUESTIONS_PATH)
    with Engine(config) as engine:
        if engine.stats().articles == 0:
            log(f"ingesting {CORPUS_PATH} into {config.data_dir}")
            engine.ingest_paths([CORPUS_PATH])
        rows, labels = [], []
        for q in questions:
            answer = engine.quote_answer(q.question)
            if answer.signals is None:  # empty index: nothing to learn from
                continue
            rows.append([float(getattr(answer.signals, name)) for name in FEATURES])
            labels.append(q.answerable)
    return np.array(rows), np.array(labels)


def threshold_for(p_unanswerable: np.ndarray, target: float) -> float:
    """The lowest probability threshold that abstains on ``target`` of unanswerable ones."""
    ranked = np.sort(p_unanswerable)
    return float(ranked[math.ceil(target * len(ranked)) - 1]) + 1e-6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target-abstention", type=float, default=0.92)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    base = EngineConfig()
    tag = f"pw{base.passage_words}-k{base.bm25_k1}-b{base.bm25_b}"
    config = dataclasses.replace(base, data_dir=CACHE_ROOT / f"calibrate-{tag}" / "data")
    x, y = collect(config)
    model = LogisticRegression(C=10.0, max_iter=10_000)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    p = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    model.fit(x, y)
    threshold = threshold_for(p[~y], args.target_abstention)
    weights = dict(zip(FEATURES, (round(float(w), 3) for w in model.coef_[0]), strict=True))
    weights["bias"] = round(float(model.intercept_[0]), 3)
    result = {
        "engine": tag,
        "questions": len(y),
        "answerable": int(y.sum()),
        "cv_auroc": round(float(roc_auc_score(y, p)), 4),
        "weights": weights,
        "threshold": round(threshold, 4),
        "cv_abstention": round(float(np.mean(p[~y] < threshold)), 4),
        "cv_false_abstention": round(float(np.mean(p[y] < threshold)), 4),
        "curve": [
            {
                "threshold": t,
                "abstention": round(float(np.mean(p[~y] < t)), 4),
                "false_abstention": round(float(np.mean(p[y] < t)), 4),
            }
            for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"engine {tag}: {result['questions']} questions, {result['answerable']} answerable")
    print(f"cross-validated AUROC {result['cv_auroc']}")
    print("weights " + ", ".join(f"{k}={v}" for k, v in weights.items()))
    print(
        f"threshold {result['threshold']} (cross-validated): abstains on "
        f"{result['cv_abstention']:.3f} of unanswerable, {result['cv_false_abstention']:.3f} "
        "of answerable"
    )
    print("| threshold | abstention | false abstention |\n|---|---|---|")
    for row in result["curve"]:
        print(f"| {row['threshold']} | {row['abstention']:.3f} | {row['false_abstention']:.3f} |")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()

"""How much of exact dense search the reduced first pass keeps, on real MiniLM vectors.

    python bench/first_pass_recall.py                  # the 10k-passage corpus of scale.py
    python bench/first_pass_recall.py --size 10000 --dims 32,48,64,96 --oversample 4,8

Large snapshots rank every row by its vector's top principal directions and re-score each
list's best ``oversample x k`` rows exactly (``index.dense.ReducedVectors``). The scale
benchmark times that on random vectors, where recall means nothing; this measures it on the
real-vector corpus of ``corpus.py`` with the dev questions (embedded by the model): the share
of the exact top-100 (the engine's candidate list) and top-10 the first pass returns, and how
often it returns the same first row.

Results: a table on stdout and ``bench/results/first_pass_recall.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from corpus import CorpusSpec, ensure_corpus, log, questions

import index.dense
from index.dense import DenseIndex, Encoder, ReducedVectors
from index.snapshot import load_snapshot

RESULTS = Path(__file__).resolve().parent / "results" / "first_pass_recall.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--dims", default="32,48,64,96")
    parser.add_argument("--oversample", default="4,8")
    parser.add_argument("--questions", type=int, default=786)
    args = parser.parse_args()

    spec = CorpusSpec(args.size, "minilm")
    ensure_corpus(spec)
    snapshot = load_snapshot(spec.data_dir / "index")
    assert snapshot is not None
    vectors = snapshot.dense.vectors
    exact = DenseIndex(vectors)
    query_vectors = Encoder().encode(questions(args.questions))
    truth = [exact.search(q, 100)[0] for q in query_vectors]
    log(f"{len(vectors):,} passages, {len(query_vectors)} questions")

    rows = []
    print(f"{'dims':>5} {'x':>3} {'top-100 recall':>15} {'top-10 recall':>14} {'same first':>11}")
    for dims in (int(d) for d in args.dims.split(",")):
        reduced = DenseIndex(vectors, ReducedVectors.fit(vectors, dims))
        for over in (int(o) for o in args.oversample.split(",")):
            index.dense.FIRST_PASS_OVERSAMPLE = over
            r100 = r10 = first = 0.0
            for q, want in zip(query_vectors, truth, strict=True):
                got = reduced.search(q, 100)[0]
                r100 += len(set(got.tolist()) & set(want.tolist())) / len(want)
                r10 += len(set(got[:10].tolist()) & set(want[:10].tolist())) / 10
                first += float(got[0] == want[0])
            n = len(query_vectors)
            row = {
                "dims": dims,
                "oversample": over,
                "recall_at_100": r100 / n,
                "recall_at_10": r10 / n,
                "same_first": first / n,
            }
            rows.append(row)
            print(
                f"{dims:>5} {over:>3} {row['recall_at_100']:>15.4f} {row['recall_at_10']:>14.4f} "
                f"{row['same_first']:>11.4f}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"size": len(vectors), "rows": rows}, indent=2))
    log(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

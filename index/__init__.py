"""newsbot's engine: ingest, store, BM25 + dense retrieval, fusion and quoting.

Nothing in this package imports discord or any other front end.
"""

import os

# OpenBLAS (numpy's dense search) keeps its threads spinning for ~0.1 s after each call, on
# the very cores torch then needs to embed the next question: on two cores that made the
# question embedding 5x slower (107 ms instead of 20). Parking them at once costs the dense
# search nothing measurable (1M x 384 gemv: 75 ms either way). Read when numpy loads, so it
# is set here, before any engine module imports numpy; a value the operator set wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"

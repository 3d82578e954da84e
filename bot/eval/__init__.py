"""The evaluation harness: question sets in, the benchmark's metrics and chat metrics out.

It calls the engine like any front end (``Engine.quote_answer``), so what it measures is what
a user gets; ``newsbot eval`` (``bot/cli/eval.py``) and the ``bench/`` scripts drive it.
"""

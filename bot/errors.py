"""Error types of the front ends' shared parts (``bot/``), under the engine's ``NewsbotError``
so that the command line shows them as one line like the engine's own. The Discord front end's
refusals, which are discord.py's ``AppCommandError``s, are in ``bot/discord/errors.py``.
"""

from __future__ import annotations

from index.errors import NewsbotError


class PollerStopped(NewsbotError):
    """The poller thread is stopping or gone; nothing more can be polled."""

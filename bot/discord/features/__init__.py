"""The bot's features, one discord.py cog each, added to the client by ``client``.

- ``questions``: /ask, and questions in mentions, DMs and threads
- ``browse``: /headlines, /search, /article, /sources
- ``feeds``: /feeds add|remove|list, /subscribe, /unsubscribe
- ``health``: /about, and the gateway heartbeat and index size reported to the health state

Each feature names the services it uses as ``typing.Protocol``s in its ``protocols`` module
and is given those (``bot.discord.services`` implements them over the engine), never the
client. Features share ``interactions``, ``render``, ``views``, ``text`` and ``errors`` and
never import each other.
"""

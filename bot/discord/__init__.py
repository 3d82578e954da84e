"""The Discord front end: ``newsbot serve`` runs :class:`bot.discord.client.NewsBot`.

Split the way discord.py bots usually are, one cog per feature, so each can be read (and
tested with fake services) alone:

- ``client``: the ``commands.Bot`` subclass: builds the services, adds the features, events,
  shutdown
- ``features/``: ``questions`` (/ask, mentions, DMs, threads), ``browse`` (/headlines, /search,
  /article, /sources), ``feeds`` (/feeds, /subscribe, /unsubscribe), ``health`` (/about, the
  heartbeat); each names the services it needs as ``typing.Protocol``s in its ``protocols``
- ``services``: those services over the engine and the worker pools; ``questions``: the
  answers service (conversation memory, metrics); ``feeds``: the feed poller beside the bot
  and headline posts; ``subscribers``: servers and channels as the feed registry's owners and
  destinations
- ``interactions``: defer, follow-up, error replies, the shutdown gate; ``errors``: what a
  failure says
- ``render`` (embeds) over ``text`` (limits, escaping, cutting); ``feed_render``; ``views``:
  buttons
- ``memory``, ``checks`` (cooldown, Manage Server), ``workers`` (thread pool), ``sync``
  (command sync only when the commands changed), ``endpoints``, ``logsafe`` (token
  redaction), ``serve`` (the ``serve`` and ``sync-commands`` CLI commands)

Nothing in ``index/`` imports this package; no feature imports another, or the client.
"""

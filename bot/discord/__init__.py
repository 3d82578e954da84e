"""The Discord front end: ``newsbot serve`` runs :class:`bot.discord.client.NewsBot`.

Split the way discord.py bots usually are, so each module can be read (and tested) alone:

- ``client``: the ``discord.Client`` subclass, its command tree, events and shutdown
- ``commands``: the slash commands; ``chat``: mentions, DMs and threads
- ``feeds``: the feed poller beside the bot and headline posts; ``feed_commands``: /feeds,
  /subscribe, /unsubscribe; ``feed_render``: their messages
- ``questions``: one question through the worker pool with conversation memory and metrics
- ``render`` (embeds) over ``text`` (limits, escaping, cutting); ``views``: buttons
- ``memory``, ``checks`` (cooldown), ``workers`` (thread pool), ``errors``, ``sync`` (command
  sync only when the commands changed), ``endpoints``, ``logsafe`` (token redaction), ``serve``
  (the ``serve`` and ``sync-commands`` CLI commands)

Nothing in ``index/`` imports this package.
"""

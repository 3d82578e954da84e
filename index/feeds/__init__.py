"""Live news: fetch feeds and pages safely, parse them, remember what was seen, poll on a schedule.

Flat modules, one job each: ``fetch`` (the only module that touches the network), ``parse``
(RSS/Atom -> ``FeedItem``), ``articles`` (a feed item or a page -> ``Article``), ``registry``
(the feeds' own SQLite tables), ``poller`` (the schedule). Nothing here imports a front end.
"""

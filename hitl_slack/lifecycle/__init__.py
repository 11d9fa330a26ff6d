"""The Redis side of a request's life: atomic steps (Lua), their sans-I/O generators and the sync
and async runners.

``commands`` (what a step yields) and ``config`` are the vocabulary; each concern is one module
holding its Lua script, the function building its KEYS/ARGV and the mapping of its return
codes: ``creation``, ``transition`` (+ ``replicas``), ``posting``, ``schedule`` (over the pure
``timers``), ``auditing``, ``deadletters``, ``listing``, ``heartbeat``; ``reading`` parses a
stored request. ``runner`` sends the commands, ``connect`` builds the clients, ``store`` offers
both as :class:`~hitl_slack.lifecycle.store.Store` / ``AsyncStore``. ``ops`` and ``lua`` gather
the steps and the scripts under their earlier names.
"""

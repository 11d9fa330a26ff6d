"""The local playground (``hitl-slack dev``): the real bot, a real Redis and a Slack-like page
in the browser, so anyone can try the whole loop without a Slack workspace.

:mod:`.dev` starts and stops it; :mod:`.web` serves the page and its API next to the local
Slack (:mod:`hitl_slack.localslack`); :mod:`.interactions` turns a person's clicks into Slack's
signed payloads; :mod:`.agent` sends test requests with the real client; :mod:`.explain` shows
the Redis keys and audit events of one request; :mod:`.workspace` is the make-believe team.
"""

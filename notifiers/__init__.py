"""Telling people: routing, templates, the durable outbox, dispatch through Apprise.

    outbox.enqueue(session, notice, config)   render a Notice for every routed target and
                                              add one outbox row each, in the caller's
                                              transaction (never commits)
    dispatcher                                claim due rows, deliver, record each attempt
    watcher                                   apply the rulebook's paging and announcement
                                              decisions to open incidents
    announce, render, routing, sender, selfcheck, service

Nothing here decides *when* to tell: that is `monitor.rulebook`. Channels are Apprise URLs
in YAML (`monitor/config/notifications.py`), never code.
"""

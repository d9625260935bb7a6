"""The rulebook: every decision of timing and alerting, as pure functions tested with a moved
clock. No I/O, no clock of its own, no database: callers pass the state, the facts and `now`.

    evaluate        a check's health from its results: thresholds, fast re-check, quorum,
                    flapping, staleness (`evaluate(state, result, now, spec, rules)`, `sweep`)
    check_state     what the evaluator remembers per check; check_events what it tells
    topology        who depends on whom (checks, components, baselines)
    components      component status from check healths; the page's overall status
    incidents       `reconcile(book, world, now) -> (book, actions)`: open, fold symptoms,
                    recover, resolve; incident_book is its immutable picture
    maintenance     occurrences of one-off and recurring windows, what they cover
    slo             error budget and multi-window burn-rate alerts
    paging          reminders, escalation tiers, the acked/resolved safety net
    announcements   when staff hear: publish after the delay, update, close, remind
    quiet_hours     when a channel's non-paging messages may go
    notices         the Notice each decision produces (keys are the idempotency base)

`monitor.incidents` and `notifiers` apply these decisions in transactions; nothing there
decides.
"""

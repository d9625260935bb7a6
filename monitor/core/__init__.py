"""The core vocabulary: what every part of invoicewatch speaks. Imports nothing else of the
project, so checks, the store, the rulebook, the notifiers and the status page all stand on it.

    results    Status, worst, ConditionResult, StepResult, Result
    spec       CheckSpec (the keys every check has), LatencyThresholds
    events     event names, severities, Notice (one thing to tell people)
    text       Strict, Language, Text, text_in (config base types)
    durations  Duration, PositiveDuration (`30s`, `5m`, `1h30m`)
    cron       CronExpr (crontab as admins mean it)
    zones      ZoneName
    clock      Clock, SystemClock, FakeClock (the one source of time)
    secrets    Redactor (every secret masked wherever text leaves the process), safe_url
    errors     the exception tree
    aio        wait_event
    bus        Bus (in-process "look again now" signals), Health (the monitor's own)
"""

__version__ = "0.1.0"

"""Config of the notifiers (channels, routes, escalation, announcements, notifications) and the
shared template environment: one-line errors that name the key, never a secret."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from monitor.config.notifications import QuietHours
from monitor.core.errors import ConfigError
from monitor.core.events import Notice
from monitor.rulebook.quiet_hours import in_quiet_hours
from notifiers.render import make_environment, render
from notifiers.routing import targets_for
from tests.notifiers.notify_helpers import write_config

SECRET = "tok-SECRET-123456"


def problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        write_config(tmp_path, "sqlite:///x.db", body)
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('channels:\n  - {name: a, urls: ["json://127.0.0.1/x", "nosuch://${HOOK_TOKEN}@host"]}\n',
         "channels[0].urls[1]: Apprise cannot use this nosuch:// URL"),
        ('channels:\n  - {name: a, urls: "just-text-${HOOK_TOKEN}"}\n',
         "channels[0].urls[0]: not an Apprise URL"),
        ('channels:\n  - {name: a, urls: "json://h/x"}\n  - {name: a, urls: "json://h/y"}\n',
         "channels[1].name: duplicate channel name 'a'"),
        ('channels:\n  - {name: oncall, urls: "json://h/x"}\nroutes:\n  - {events: "incident.*", channels: [oncal]}\n',
         "routes[0].channels[0]: unknown channel 'oncal' (did you mean 'oncall'?)"),
        ('routes:\n  - {events: "incidnt.*", channels: []}\n', "routes[0].events: 'incidnt.*' matches no event"),
        ('channels:\n  - {name: a, urls: "json://h/x", components: [logn]}\n',
         "channels[0].components[0]: unknown component 'logn' (did you mean 'login'?)"),
        ('channels:\n  - {name: a, urls: "json://h/x", audiense: staff}\n',
         "channels[0].audiense: unknown key 'audiense' (did you mean 'audience'?)"),
        ("escalation:\n  tiers: [{after: 30m, tier: 3}, {after: 15m, tier: 2}]\n",
         "escalation: escalation tiers must be listed with increasing"),
        ('channels:\n  - {name: a, urls: "json://h/x", quiet_hours: {start: "25:00", end: "08:00"}}\n',
         "channels[0].quiet_hours.start"),
    ],
)
def test_bad_notifier_config_is_reported_on_one_line_naming_the_key(tmp_path: Path, body: str, expected: str) -> None:
    found = problems(tmp_path, body)
    assert any(re.search(r"config\.yaml:\d+:\d+: " + re.escape(expected), p) for p in found), found
    assert all("\n" not in p and SECRET not in p for p in found)


def test_annotated_example_validates(tmp_path: Path) -> None:
    example = (Path(__file__).parent / "notifiers.example.yaml").read_text(encoding="utf-8")
    (tmp_path / "templates").mkdir()  # notifications.templates names it; a missing folder is a config error
    config = write_config(tmp_path, "sqlite:///x.db", example.split("# --- cut ---", 1)[1])
    assert [c.name for c in config.channels] == ["oncall-wecom", "oncall-email", "it-lead", "cio", "finance", "staff-en"]
    assert config.channels[0].urls[0].endswith(SECRET)
    assert config.escalation.tiers[0].after == timedelta(minutes=15)
    assert config.channels[1].quiet_hours == QuietHours(start=time(22, 0), end=time(8, 0))


@pytest.mark.parametrize(
    ("start", "end", "now", "quiet"),
    [("22:00", "08:00", "23:30", True), ("22:00", "08:00", "07:59", True), ("22:00", "08:00", "08:00", False),
     ("12:00", "13:00", "12:30", True), ("12:00", "13:00", "13:30", False), ("00:00", "00:00", "03:00", False)],
)
def test_quiet_hours_may_span_midnight(start: str, end: str, now: str, quiet: bool) -> None:
    hours = QuietHours.model_validate({"start": start, "end": end})
    assert in_quiet_hours(hours, time.fromisoformat(now)) is quiet


def test_default_routes_send_incidents_to_on_call_and_announcements_to_staff(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///x.db", """
channels:
  - {name: oncall, urls: ["json://h/a", "json://h/b"]}
  - {name: oncall-login-only, urls: "json://h/c", components: [login]}
  - {name: finance, urls: "json://h/d", audience: finance}
""")
    at = datetime(2026, 3, 2, tzinfo=UTC)
    opened = Notice(event="incident.opened", key="k", at=at, component="issuance", severity="critical")
    published = Notice(event="announcement.published", key="k2", at=at, component="issuance")
    assert [(t.channel.name, t.index) for t in targets_for(opened, config)] == [("oncall", 0), ("oncall", 1)]
    assert [t.channel.name for t in targets_for(published, config)] == ["finance"]
    excluded = Notice(event="monitor.problem", key="k3", at=at, data={"exclude_channels": ["oncall"]})
    assert [t.channel.name for t in targets_for(excluded, config)] == ["oncall-login-only"]


def test_templates_can_be_overridden_one_file_at_a_time(tmp_path: Path) -> None:
    folder = tmp_path / "my-templates" / "en" / "oncall"
    folder.mkdir(parents=True)
    (folder / "incident.opened.txt.j2").write_text(
        "{% block title %}PAGE {{ component_name }}{% endblock %}{% block body %}at {{ notice.at|localtime }}{% endblock %}")
    config = write_config(tmp_path, "sqlite:///x.db", """
notifications: {templates: my-templates}
""")
    env = make_environment(config)
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    opened = Notice(event="incident.opened", key="k", at=at, incident_id=1, component="login", severity="major")
    msg = render(env, opened, config, audience="oncall", language="en", body_format="text")
    assert (msg.title, msg.body) == ("PAGE Login", "at 2026-03-02 09:00")  # Asia/Shanghai
    resolved = Notice(event="incident.resolved", key="k", at=at, incident_id=1, component="login", severity="major")
    assert render(env, resolved, config, audience="oncall", language="en", body_format="text").title.startswith("[RESOLVED]")


def test_shared_environment_escapes_html_files_only(tmp_path: Path) -> None:
    env = make_environment(None)
    data = {"x": "<b>&"}
    assert env.from_string("{{ x }}").render(data) == "<b>&"
    page = tmp_path / "page.html.j2"
    page.write_text("{{ x }}")
    html_env = make_environment(None, extra_dirs=[tmp_path])
    assert html_env.get_template("page.html.j2").render(data) == "&lt;b&gt;&amp;"
    assert env.filters["duration"](timedelta(minutes=90)) == "1h30m"


def test_secrets_in_urls_never_reach_the_outbox(tmp_path: Path, sqlite_url: str, store_for) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from notifiers.outbox import enqueue

    config = write_config(tmp_path, sqlite_url, """
channels:
  - {name: oncall, urls: "json://h/${HOOK_TOKEN}"}
""")
    store = store_for(sqlite_url)
    with store.session() as s:
        enqueue(s, Notice(event="incident.opened", key="k", at=datetime(2026, 3, 2, tzinfo=UTC), incident_id=1,
                          component="login", severity="critical", title=f"token {SECRET} leaked in an error",
                          data={"envelope_message": f"bad appSecret {SECRET}"}), config)
        s.commit()
    with store.engine.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM outbox")).all())
    assert SECRET not in dump and "***" in dump  # the loader registered the expanded value as a secret

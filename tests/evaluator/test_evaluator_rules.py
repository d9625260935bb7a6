"""The pure per-check evaluator: thresholds, fast re-check, quorum, flapping, staleness."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.core.results import Result, Status
from monitor.rulebook.check_events import FlappingStarted, FlappingStopped, Recheck, StateChanged
from monitor.rulebook.check_state import CheckState
from monitor.rulebook.evaluate import Rules, evaluate, new_state, sweep
from tests.evaluator.evalkit import T0, spec

LETTER = {"U": "up", "G": "degraded", "D": "down"}
HEALTH = {"u": "up", "g": "degraded", "d": "down", "?": "unknown"}


def play(sequence: str, ft: int = 3, st: int = 2, location: str = "local") -> tuple[list[str], CheckState, list[object]]:
    sp = spec("c", failure_threshold=ft, success_threshold=st)
    state = new_state("c", T0)
    now = T0
    healths, events = [], []
    for letter in sequence:
        now += timedelta(seconds=60)
        state, evs = evaluate(state, Result("c", Status(LETTER[letter]), now, 10.0, location=location), now, sp)
        healths.append(state.health)
        events += evs
    return healths, state, events


# sequence of results -> health after each result
THRESHOLD_CASES = [
    ("first_good_result_is_up_at_once", 3, 2, "U", "u"),
    ("blip_below_failure_threshold_stays_up", 3, 2, "UDDUDDU", "uuuuuuu"),
    ("third_failure_in_a_row_confirms_down", 3, 2, "UDDD", "uuud"),
    ("unknown_check_needs_threshold_too", 3, 2, "DDD", "??d"),
    ("recovery_needs_success_threshold", 3, 2, "UDDDUU", "uuuddu"),
    ("one_success_does_not_recover", 3, 2, "UDDDUDU", "uuudddd"),
    ("degraded_results_confirm_degraded", 3, 2, "UGGG", "uuug"),
    ("mixed_bad_results_confirm_degraded", 3, 2, "UGDG", "uuug"),
    ("down_after_degraded_needs_downs_in_a_row", 3, 2, "UGGGDDD", "uuugggd"),
    ("down_recovers_to_degraded_first", 3, 2, "UDDDGG", "uuuddg"),
    ("degraded_recovers_to_up", 3, 2, "UGGGUU", "uuuggu"),
    ("threshold_one_is_immediate", 1, 1, "UDUD", "udud"),
]


@pytest.mark.parametrize(
    ("ft", "st", "sequence", "expected"),
    [c[1:] for c in THRESHOLD_CASES],
    ids=[c[0] for c in THRESHOLD_CASES],
)
def test_thresholds_turn_results_into_health(ft: int, st: int, sequence: str, expected: str) -> None:
    healths, _, _ = play(sequence, ft, st)
    assert healths == [HEALTH[h] for h in expected]


def test_each_transition_is_reported_once_and_chains() -> None:
    _, _, events = play("UDDDDDUUUUGGGGUU")
    changes = [e for e in events if isinstance(e, StateChanged)]
    assert [(c.old_health, c.new_health) for c in changes] == [
        ("unknown", "up"), ("up", "down"), ("down", "up"), ("up", "degraded"), ("degraded", "up"),
    ]


def test_first_failure_asks_for_a_fast_recheck() -> None:
    sp = spec("c", interval=60, retry_interval=10)
    state = new_state("c", T0)
    state, _ = evaluate(state, Result("c", Status.UP, T0, 1.0), T0, sp)
    state, events = evaluate(state, Result("c", Status.DOWN, T0, 1.0), T0, sp)
    assert Recheck("c", timedelta(seconds=10)) in events
    state, events = evaluate(state, Result("c", Status.DOWN, T0, 1.0), T0, sp)
    assert any(isinstance(e, Recheck) for e in events)
    state, events = evaluate(state, Result("c", Status.DOWN, T0, 1.0), T0, sp)
    assert state.health == "down"
    assert not any(isinstance(e, Recheck) for e in events), "confirmed: back to the normal interval"
    state, events = evaluate(state, Result("c", Status.UP, T0, 1.0), T0, sp)
    assert any(isinstance(e, Recheck) for e in events), "recovery is confirmed fast too"


def test_no_recheck_when_retry_is_not_faster_than_interval() -> None:
    sp = spec("c", interval=10, timeout=5, retry_interval=10)
    state, _ = evaluate(new_state("c", T0), Result("c", Status.UP, T0, 1.0), T0, sp)
    _, events = evaluate(state, Result("c", Status.DOWN, T0, 1.0), T0, sp)
    assert not any(isinstance(e, Recheck) for e in events)


def test_sixty_second_check_confirms_in_about_twenty_seconds() -> None:
    sp = spec("c", interval=60, retry_interval=10, failure_threshold=3)
    state, _ = evaluate(new_state("c", T0), Result("c", Status.UP, T0, 1.0), T0, sp)
    now, start = T0 + timedelta(seconds=60), T0 + timedelta(seconds=60)
    while True:
        state, events = evaluate(state, Result("c", Status.DOWN, now, 1.0), now, sp)
        if state.health == "down":
            break
        now += next(e.delay for e in events if isinstance(e, Recheck))
    assert now - start == timedelta(seconds=20)


QUORUM_CASES = [
    # (quorum, {location: result}, expected health); three results per location
    ("one_of_three_down_is_degraded", None, {"bj": "D", "sh": "U", "gz": "U"}, "degraded"),
    ("two_of_three_down_is_down", None, {"bj": "D", "sh": "D", "gz": "U"}, "down"),
    ("explicit_quorum_one_is_any", 1, {"bj": "D", "sh": "U", "gz": "U"}, "down"),
    ("explicit_quorum_three_needs_all", 3, {"bj": "D", "sh": "D", "gz": "U"}, "degraded"),
    ("all_up_is_up", None, {"bj": "U", "sh": "U", "gz": "U"}, "up"),
]


@pytest.mark.parametrize(("quorum", "per_location", "expected"), [c[1:] for c in QUORUM_CASES], ids=[c[0] for c in QUORUM_CASES])
def test_location_quorum(quorum: int | None, per_location: dict[str, str], expected: str) -> None:
    sp = spec("c", failure_threshold=3, quorum=quorum)
    state = new_state("c", T0)
    now = T0
    for loc in per_location:  # everyone up first
        state, _ = evaluate(state, Result("c", Status.UP, now, 1.0, location=loc), now, sp)
    for _ in range(3):
        now += timedelta(seconds=20)
        for loc, letter in per_location.items():
            state, _ = evaluate(state, Result("c", Status(LETTER[letter]), now, 1.0, location=loc), now, sp)
    assert state.health == expected


def test_a_silent_location_stops_counting_towards_quorum() -> None:
    sp = spec("c", failure_threshold=1, success_threshold=1, interval=60)
    state = new_state("c", T0)
    for loc in ("bj", "sh"):
        state, _ = evaluate(state, Result("c", Status.DOWN, T0, 1.0, location=loc), T0, sp)
    assert state.health == "down"
    later = T0 + timedelta(minutes=10)
    state, _ = evaluate(state, Result("c", Status.UP, later, 1.0, location="bj"), later, sp)
    assert state.health == "up", "sh went quiet: only bj's fresh verdict counts"


def test_flapping_raises_one_event_and_ends_after_a_quiet_window() -> None:
    rules = Rules(flap_changes=4, flap_window=timedelta(minutes=30))
    sp = spec("c", failure_threshold=1, success_threshold=1)
    state = new_state("c", T0)
    now = T0
    events = []
    for i in range(20):
        now += timedelta(minutes=1)
        state, evs = evaluate(state, Result("c", Status.DOWN if i % 2 else Status.UP, now, 1.0), now, sp, rules)
        events += evs
    assert [type(e) for e in events if isinstance(e, FlappingStarted | FlappingStopped)] == [FlappingStarted]
    assert state.flapping
    now += timedelta(minutes=31)
    state, evs = sweep(state, now, sp, rules)
    assert FlappingStopped("c", now) in evs
    assert not state.flapping


def test_missed_runs_show_unknown_but_keep_the_health() -> None:
    sp = spec("c", interval=60, timeout=5, failure_threshold=1)
    state, _ = evaluate(new_state("c", T0), Result("c", Status.DOWN, T0, 1.0), T0, sp)
    state, events = sweep(state, T0 + timedelta(seconds=180), sp)
    assert (state.status, events) == ("down", [])
    later = T0 + timedelta(seconds=186)
    state, events = sweep(state, later, sp)
    assert (state.status, state.health) == ("unknown", "down")
    assert events == [StateChanged("c", later, "down", "unknown", "down", "down")]
    state, events = evaluate(state, Result("c", Status.DOWN, later, 1.0), later, sp)
    assert state.status == "down"


def test_cron_check_goes_stale_after_missed_scheduled_runs() -> None:
    sp = spec("c", cron="0 * * * *", timeout=5)  # hourly
    state, _ = evaluate(new_state("c", T0), Result("c", Status.UP, T0, 1.0), T0, sp)
    assert not sweep(state, T0 + timedelta(hours=2, minutes=59), sp)[0].stale
    assert sweep(state, T0 + timedelta(hours=3, seconds=6), sp)[0].stale


def test_maintenance_changes_what_is_shown_not_the_health() -> None:
    sp = spec("c", failure_threshold=1)
    state, _ = evaluate(new_state("c", T0), Result("c", Status.DOWN, T0, 1.0), T0, sp)
    state, events = sweep(state, T0, sp, maintenance=True)
    assert (state.status, state.health) == ("maintenance", "down")
    assert isinstance(events[0], StateChanged)
    state, _ = evaluate(state, Result("c", Status.UP, T0, 1.0), T0, sp)
    assert state.status == "maintenance"


def test_state_survives_the_json_round_trip() -> None:
    _, state, _ = play("UDDDGU", location="bj")
    again = CheckState.from_json("c", state.since, state.to_json())
    assert again == state


def test_evidence_names_the_failed_step_and_the_platform_error() -> None:
    from monitor.core.results import StepResult

    r = Result(
        "登录", Status.DOWN, T0, 812.0, "login failed",
        steps=[
            StepResult("token", Status.UP, 30.0),
            StepResult("login", Status.DOWN, 780.0, "envelope E1001", values={"envelope_code": "E1001", "envelope_message": "appKey无效", "http_status": 200}),
        ],
    )
    state, _ = evaluate(new_state("登录", T0), r, T0, spec("登录"))
    ev = state.evidence
    assert ev is not None
    assert (ev["step"], ev["envelope_code"], ev["envelope_message"], ev["http_status"]) == ("login", "E1001", "appKey无效", 200)

"""Unit and property tests for bot.core.budget (pure): quiet hours, post and DM caps, the batch window."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import LimitSettings
from bot.core.budget import INSTANCE_STATUSES_PER_3H, dms_allowed, in_batch_window, may_post

CORE = Path(__file__).resolve().parent.parent / "bot" / "core"
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
QUIET = LimitSettings(quiet_hours="22:00-07:00", timezone="Europe/Berlin")  # UTC+1 in December


# --- DMs ---------------------------------------------------------------------------------------------


def test_dms_allowed_is_what_is_wanted_when_there_is_room() -> None:
    assert dms_allowed(max_dms_per_hour=12, dms_last_hour=2, statuses_last_3h=10, wanted=3) == 3


def test_dms_allowed_stops_at_the_hourly_cap() -> None:
    assert dms_allowed(max_dms_per_hour=12, dms_last_hour=10, statuses_last_3h=10, wanted=3) == 2
    assert dms_allowed(max_dms_per_hour=12, dms_last_hour=12, statuses_last_3h=10, wanted=3) == 0


def test_dms_count_toward_the_instance_cap_on_statuses() -> None:
    assert dms_allowed(max_dms_per_hour=12, dms_last_hour=0, statuses_last_3h=299, wanted=3) == 1
    assert dms_allowed(max_dms_per_hour=12, dms_last_hour=0, statuses_last_3h=300, wanted=3) == 0


def test_dms_allowed_is_never_negative() -> None:
    assert dms_allowed(max_dms_per_hour=12, dms_last_hour=40, statuses_last_3h=900, wanted=3) == 0
    assert dms_allowed(max_dms_per_hour=0, dms_last_hour=0, statuses_last_3h=0, wanted=3) == 0
    assert dms_allowed(max_dms_per_hour=12, dms_last_hour=0, statuses_last_3h=0, wanted=-2) == 0


@settings(deadline=None)
@given(
    cap=st.integers(-5, 100),
    last_hour=st.integers(-5, 200),
    last_3h=st.integers(-5, 400),
    wanted=st.integers(-5, 50),
)
def test_dms_allowed_stays_inside_every_cap(cap: int, last_hour: int, last_3h: int, wanted: int) -> None:
    allowed = dms_allowed(
        max_dms_per_hour=cap, dms_last_hour=last_hour, statuses_last_3h=last_3h, wanted=wanted
    )
    assert 0 <= allowed <= max(wanted, 0)
    if allowed:
        assert last_hour + allowed <= cap
        assert last_3h + allowed <= INSTANCE_STATUSES_PER_3H


# --- posts -------------------------------------------------------------------------------------------


def test_a_post_may_go_when_no_cap_is_reached() -> None:
    assert may_post(NOON, LimitSettings(), posts_last_hour=0, statuses_last_3h=0) is None
    assert may_post(NOON, QUIET, posts_last_hour=19, statuses_last_3h=299) is None


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 12, 2, 21, 0, tzinfo=UTC),  # 22:00 in Berlin: quiet hours begin
        datetime(2026, 12, 2, 23, 30, tzinfo=UTC),
        datetime(2026, 12, 3, 5, 59, tzinfo=UTC),  # 06:59 in Berlin
    ],
)
def test_quiet_hours_in_the_configured_zone_hold_posts_until_morning(when: datetime) -> None:
    assert may_post(when, QUIET, posts_last_hour=0, statuses_last_3h=0) == "quiet hours until 07:00"


@pytest.mark.parametrize(
    "when", [datetime(2026, 12, 2, 20, 59, tzinfo=UTC), datetime(2026, 12, 3, 6, 0, tzinfo=UTC)]
)
def test_posts_go_either_side_of_the_quiet_hours(when: datetime) -> None:
    assert may_post(when, QUIET, posts_last_hour=0, statuses_last_3h=0) is None


def test_a_naive_time_is_taken_as_utc_not_as_the_hosts_local_time() -> None:
    limits = LimitSettings(quiet_hours="22:00-07:00", timezone="UTC")
    assert may_post(datetime(2026, 12, 2, 23, 0), limits, posts_last_hour=0, statuses_last_3h=0)
    assert may_post(datetime(2026, 12, 2, 12, 0), limits, posts_last_hour=0, statuses_last_3h=0) is None


def test_the_hourly_post_cap_holds_posts() -> None:
    limits = LimitSettings(max_posts_per_hour=20)
    assert (
        may_post(NOON, limits, posts_last_hour=20, statuses_last_3h=20) == "limits.max_posts_per_hour reached"
    )
    assert may_post(NOON, LimitSettings(max_posts_per_hour=0), posts_last_hour=0, statuses_last_3h=0) == (
        "limits.max_posts_per_hour reached"
    )


def test_the_instance_cap_on_statuses_holds_posts() -> None:
    reason = may_post(NOON, LimitSettings(), posts_last_hour=0, statuses_last_3h=300)
    assert reason == "the instance's 300 statuses / 3 h"


# --- the batch window ----------------------------------------------------------------------------------


def test_no_draft_dm_yet_means_no_window() -> None:
    assert not in_batch_window(NOON, None, timedelta(minutes=2))


def test_drafts_gather_inside_the_window_and_go_when_it_ends() -> None:
    window = timedelta(minutes=2)
    assert in_batch_window(NOON, NOON - timedelta(seconds=30), window)
    assert in_batch_window(NOON, NOON, window)
    assert not in_batch_window(NOON, NOON - window, window)
    assert not in_batch_window(NOON, NOON - timedelta(hours=1), window)


def test_a_last_dm_in_the_future_holds_nothing_back() -> None:
    assert not in_batch_window(NOON, NOON + timedelta(days=2), timedelta(minutes=2))


def test_a_naive_last_dm_compares_as_utc() -> None:
    naive = datetime(2026, 12, 2, 11, 59)
    assert in_batch_window(NOON, naive, timedelta(minutes=2))


def test_a_zero_window_never_holds() -> None:
    assert not in_batch_window(NOON, NOON, timedelta(0))


# --- purity ---------------------------------------------------------------------------------------------

FORBIDDEN = (
    "bot.store",
    "bot.instance",
    "bot.service",
    "mastodon",
    "sqlalchemy",
    "sqlmodel",
    "httpx",
    "time",
)
CLOCK_READS = {"now", "utcnow", "today", "monotonic", "perf_counter", "time_ns"}


@pytest.mark.parametrize("module", ["budget.py", "render.py"])
def test_core_modules_do_no_io_and_read_no_clock(module: str) -> None:
    tree = ast.parse((CORE / module).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert [
        name for name in imported if name in FORBIDDEN or name.startswith(tuple(f"{f}." for f in FORBIDDEN))
    ] == []
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    names = {f.attr for f in calls if isinstance(f, ast.Attribute)} | {
        f.id for f in calls if isinstance(f, ast.Name)
    }
    assert names & CLOCK_READS == set()

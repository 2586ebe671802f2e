"""Who left: the snapshot diff and the departures laid at the door of our posts (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.followers import Departure, PostRef, departure_clusters, diff_followers
from bot.listening.followers import scan_budget
from bot.model import Follower

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def snap(*followers: Follower) -> dict[str, Follower]:
    return {f.account_id: f for f in followers}


ANN, BOB, CAT = Follower("1", "ann"), Follower("2", "bob@far.example"), Follower("3", "cat@cut.example")


def test_joins_and_leaves() -> None:
    diff = diff_followers(snap(ANN, BOB), snap(BOB, CAT))
    assert diff.joins == (CAT,)
    assert diff.leaves == (ANN,)
    assert (diff.rejoins, diff.severed, diff.moves) == ((), (), ())


def test_someone_who_left_before_and_follows_again_is_a_rejoin() -> None:
    diff = diff_followers(snap(BOB), snap(BOB, ANN), left_before={"1"})
    assert diff.rejoins == (ANN,)
    assert diff.joins == ()


def test_an_account_that_moved_is_neither_a_departure_nor_a_join() -> None:
    old = Follower("1", "ann", moved_to="9")
    new = Follower("9", "ann@new.example")
    diff = diff_followers(snap(ANN, BOB), snap(old, BOB, new))
    assert (diff.joins, diff.leaves) == ((), ())
    assert [(m.old.account_id, m.new_id, m.still_follows) for m in diff.moves] == [("1", "9", True)]
    # Once told, the same move is no news; and the old account dropping out later is no departure.
    again = diff_followers(snap(old, BOB, new), snap(BOB, new))
    assert again.empty


def test_a_move_whose_new_account_does_not_follow_us_is_still_no_departure() -> None:
    diff = diff_followers(snap(ANN), snap(Follower("1", "ann", moved_to="9")))
    assert diff.leaves == ()
    assert [m.still_follows for m in diff.moves] == [False]


def test_departures_from_a_severed_server_are_told_apart() -> None:
    diff = diff_followers(snap(ANN, BOB, CAT), snap(ANN), severed_domains={"CUT.example"})
    assert diff.leaves == (BOB,)
    assert diff.severed == (CAT,)


def test_a_suspended_account_is_told_apart_too() -> None:
    diff = diff_followers(snap(ANN, BOB), snap(ANN), severed_domains={"bob@far.example"})
    assert diff.severed == (BOB,)


def test_nothing_changed() -> None:
    assert diff_followers(snap(ANN, BOB), snap(BOB, ANN)).empty


ids = st.sets(st.integers(0, 30)).map(lambda s: snap(*(Follower(str(i), f"u{i}") for i in s)))


@given(ids, ids)
def test_every_change_is_counted_once(before: dict[str, Follower], after: dict[str, Follower]) -> None:
    diff = diff_followers(before, after)
    assert {f.account_id for f in diff.joins} == after.keys() - before.keys()
    assert {f.account_id for f in diff.leaves} == before.keys() - after.keys()


# --- cluster attribution -------------------------------------------------------------------------

SALE = PostRef("p2", T0 + timedelta(hours=1), "We are now selling…")
EARLIER = PostRef("p1", T0 - timedelta(days=3), "Hello")


def left(n: int, after: datetime, noticed: datetime) -> list[Departure]:
    return [Departure(str(i), after, noticed) for i in range(n)]


def test_departures_after_a_post_are_laid_at_its_door() -> None:
    clusters = departure_clusters(left(3, T0, T0 + timedelta(hours=6)), [EARLIER, SALE])
    assert [(c.post.status_id, len(c.departures)) for c in clusters] == [("p2", 3)]


def test_fewer_than_three_are_ordinary_churn() -> None:
    assert departure_clusters(left(2, T0, T0 + timedelta(hours=6)), [SALE]) == []


def test_a_post_long_before_the_departures_explains_nothing() -> None:
    later = T0 + timedelta(days=3)
    assert departure_clusters(left(4, later, later + timedelta(hours=6)), [SALE]) == []


def test_each_departure_counts_for_the_newest_post_before_it() -> None:
    second = PostRef("p3", T0 + timedelta(hours=10), "Update")
    first_wave = left(3, T0, T0 + timedelta(hours=6))
    second_wave = [Departure(f"x{i}", T0 + timedelta(hours=6), T0 + timedelta(hours=12)) for i in range(4)]
    clusters = departure_clusters(first_wave + second_wave, [SALE, second])
    assert [(c.post.status_id, len(c.departures)) for c in clusters] == [("p3", 4), ("p2", 3)]


def test_a_departure_noticed_before_any_post_is_nobody_s_fault() -> None:
    assert departure_clusters(left(3, T0 - timedelta(hours=6), T0), [SALE]) == []


def test_the_request_budget_of_a_scan() -> None:
    assert scan_budget(5_000, 40) == 126  # mastodon_mock's pages hold 40
    assert scan_budget(100_000) == 1_251  # Mastodon's hold 80
    assert scan_budget(0) == 1

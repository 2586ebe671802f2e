"""Store (tally SQL): the statements that keep `person_tallies` in step with `interactions`.

Used by migration 0011 (which adds the table, counts what is there and creates the triggers) and by
`StoreBase.upgrade` when it creates a new store from the models without Alembic (bot/store/fresh.py):
both make the same triggers, which tests/test_migrations.py checks. Plain strings, no imports: the
weights stay in Python (bot/store/ledger.py THEIR_WEIGHTS); a tally only counts each kind.

If these statements ever change, a new migration must recreate the triggers (0011 uses this module).
"""

from __future__ import annotations

# The counted kinds of theirs: a column each (bot/store/tables.py PersonTallyRow, the same names).
KINDS = ("follow", "follow_request", "mention", "reply", "boost", "favourite", "share", "quote")
COUNTS = [f"theirs_{kind}" for kind in KINDS] + ["theirs_total", "ours_total"]
WATCHED = "owner, account_id, direction, kind, at"  # an update of other columns changes no tally


def _values(row: str) -> list[str]:
    """One interaction (`NEW`, `OLD`, a table) as the tally columns' increments, in COUNTS order, then
    its time."""
    theirs = f"{row}.direction = 'theirs'"
    counts = [f"CASE WHEN {theirs} AND {row}.kind = '{kind}' THEN 1 ELSE 0 END" for kind in KINDS]
    counts += [
        f"CASE WHEN {theirs} THEN 1 ELSE 0 END",
        f"CASE WHEN {row}.direction = 'ours' THEN 1 ELSE 0 END",
    ]
    return [*counts, f"CASE WHEN {theirs} THEN {row}.at END"]


def _add(row: str) -> str:
    """Count one interaction in: a new tally, or the old one plus it (the latest time wins)."""
    names = ", ".join(["owner", "account_id", *COUNTS, "last_theirs_at"])
    values = ", ".join([f"{row}.owner", f"{row}.account_id", *_values(row)])
    sums = ", ".join(f"{c} = person_tallies.{c} + excluded.{c}" for c in COUNTS)
    latest = (
        "last_theirs_at = CASE WHEN person_tallies.last_theirs_at IS NULL"
        " OR excluded.last_theirs_at > person_tallies.last_theirs_at"
        " THEN excluded.last_theirs_at ELSE person_tallies.last_theirs_at END"
    )
    return (
        f"INSERT INTO person_tallies ({names}) VALUES ({values}) "
        f"ON CONFLICT (owner, account_id) DO UPDATE SET {sums}, {latest}"
    )


def _remove(row: str) -> str:
    """Count one interaction out (after it is gone: the latest time is read again)."""
    minus = ", ".join(f"{c} = {c} - ({v})" for c, v in zip(COUNTS, _values(row), strict=False))
    latest = (
        f"last_theirs_at = (SELECT max(i.at) FROM interactions AS i WHERE i.owner = {row}.owner"
        f" AND i.account_id = {row}.account_id AND i.direction = 'theirs')"
    )
    return (
        f"UPDATE person_tallies SET {minus}, {latest} "
        f"WHERE owner = {row}.owner AND account_id = {row}.account_id"
    )


# The interactions already there, counted once (bench/store.py counts its bulk-loaded rows with it too).
BACKFILL = (
    f"INSERT INTO person_tallies (owner, account_id, {', '.join(COUNTS)}, last_theirs_at) "
    f"SELECT owner, account_id, {', '.join(f'coalesce(sum({v}), 0)' for v in _values('interactions')[:-1])}, "
    f"max({_values('interactions')[-1]}) FROM interactions GROUP BY owner, account_id"
)


def create_triggers(dialect: str) -> list[str]:
    """The statements that create the triggers on `dialect` ("postgresql", else SQLite's)."""
    if dialect == "postgresql":
        return [
            "CREATE FUNCTION frontrow_person_tally() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP IN ('DELETE', 'UPDATE') THEN {_remove('OLD')}; END IF; "
            f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_add('NEW')}; END IF; "
            "RETURN NULL; END $$",
            f"CREATE TRIGGER interactions_tally AFTER INSERT OR DELETE OR UPDATE OF {WATCHED} "
            "ON interactions FOR EACH ROW EXECUTE FUNCTION frontrow_person_tally()",
        ]
    return [
        f"CREATE TRIGGER interactions_tally_insert AFTER INSERT ON interactions BEGIN {_add('NEW')}; END",
        f"CREATE TRIGGER interactions_tally_delete AFTER DELETE ON interactions BEGIN {_remove('OLD')}; END",
        f"CREATE TRIGGER interactions_tally_update AFTER UPDATE OF {WATCHED} ON interactions "
        f"BEGIN {_remove('OLD')}; {_add('NEW')}; END",
    ]


def drop_triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS interactions_tally ON interactions",
            "DROP FUNCTION IF EXISTS frontrow_person_tally()",
        ]
    return [f"DROP TRIGGER IF EXISTS interactions_tally_{name}" for name in ("insert", "delete", "update")]

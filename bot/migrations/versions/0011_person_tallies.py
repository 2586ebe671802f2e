"""Per-person tallies of the ledger, kept by the database itself, so `people` ranks 100k people without
reading 1M interactions (bench/store.py); and an index for the stats windows.

`person_tallies` holds, per (owner, account_id), how many of their interactions of each weighted kind
(bot/store/ledger.py THEIR_WEIGHTS: the weights stay in Python), their total and ours, and the time of
their latest one. Triggers on `interactions` keep it in step with every insert, update and delete,
whichever code writes the row; the rows already there are counted once here.

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

# The counted kinds of theirs: a column each (bot/store/tables.py PersonTallyRow, the same names).
KINDS = ("follow", "follow_request", "mention", "reply", "boost", "favourite", "share")
COUNTS = [f"theirs_{kind}" for kind in KINDS] + ["theirs_total", "ours_total"]


def _values(row: str) -> list[str]:
    """One interaction (`NEW` or `OLD`) as the tally columns' increments, in COUNTS order, then its time."""
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
WATCHED = "owner, account_id, direction, kind, at"  # an update of other columns changes no tally


def upgrade() -> None:
    op.create_table(
        "person_tallies",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        *[sa.Column(c, sa.Integer(), server_default="0", nullable=False) for c in COUNTS],
        sa.Column("last_theirs_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("owner", "account_id"),
    )
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION frontrow_person_tally() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP IN ('DELETE', 'UPDATE') THEN {_remove('OLD')}; END IF; "
            f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_add('NEW')}; END IF; "
            "RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER interactions_tally AFTER INSERT OR DELETE OR UPDATE OF {WATCHED} "
            "ON interactions FOR EACH ROW EXECUTE FUNCTION frontrow_person_tally()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER interactions_tally_insert AFTER INSERT ON interactions BEGIN {_add('NEW')}; END"
        )
        op.execute(
            "CREATE TRIGGER interactions_tally_delete AFTER DELETE ON interactions "
            f"BEGIN {_remove('OLD')}; END"
        )
        op.execute(
            f"CREATE TRIGGER interactions_tally_update AFTER UPDATE OF {WATCHED} ON interactions "
            f"BEGIN {_remove('OLD')}; {_add('NEW')}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS interactions_tally ON interactions")
        op.execute("DROP FUNCTION IF EXISTS frontrow_person_tally()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS interactions_tally_{name}")
    op.drop_table("person_tallies")

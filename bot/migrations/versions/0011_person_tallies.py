"""Per-person tallies of the ledger, kept by the database itself, so `people` ranks 100k people without
reading 1M interactions (bench/store.py).

`person_tallies` holds, per (owner, account_id), how many of their interactions of each weighted kind
(bot/store/ledger.py THEIR_WEIGHTS: the weights stay in Python), their total and ours, and the time of
their latest one. Triggers on `interactions` (bot/store/tally_sql.py) keep it in step with every insert,
update and delete, whichever code writes the row; the rows already there are counted once here.

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.tally_sql import BACKFILL, COUNTS, create_triggers, drop_triggers

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


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
    for statement in create_triggers(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_triggers(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("person_tallies")

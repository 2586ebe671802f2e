"""Follower scans and departures (who left, and after what); our posts keep an excerpt to be named by;
digest items say who recommended them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follower_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("next_max_id", sa.String(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "followers",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("acct", sa.String(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=True),
        sa.Column("moved_to", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("owner", "scan_id", "account_id"),
    )
    op.create_table(
        "departures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("acct", sa.String(), nullable=False),
        sa.Column("followed_since", sa.DateTime(), nullable=True),
        sa.Column("after", sa.DateTime(), nullable=True),
        sa.Column("noticed_at", sa.DateTime(), nullable=True),
        sa.Column("cause", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("departures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_departures_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_departures_owner_noticed", ["owner", "noticed_at"], unique=False)
    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("excerpt", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("via", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_column("via")
    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.drop_column("excerpt")
    with op.batch_alter_table("departures", schema=None) as batch_op:
        batch_op.drop_index("ix_departures_owner_noticed")
        batch_op.drop_index(batch_op.f("ix_departures_account_id"))
    op.drop_table("departures")
    op.drop_table("followers")
    op.drop_table("follower_scans")

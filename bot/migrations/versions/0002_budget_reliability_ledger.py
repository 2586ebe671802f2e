"""Attention budget, reliability and the ledger: draft actions, triage, threads, send times, DM log,
our posts, digests and feeds.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digests_created_at"), ["created_at"], unique=False)

    op.create_table(
        "dm_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dm_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dm_log_at"), ["at"], unique=False)

    op.create_table(
        "feed_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_url", sa.String(), nullable=False),
        sa.Column("entry_id", sa.String(), nullable=False),
        sa.Column("acct", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("excerpt", sa.String(), nullable=False),
        sa.Column("published", sa.DateTime(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_url", "entry_id", name="uq_feed_entries_entry"),
    )
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_entries_published"), ["published"], unique=False)

    op.create_table(
        "feed_state",
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("acct", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("nobot", sa.Boolean(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        sa.Column("last_fetched", sa.DateTime(), nullable=True),
        sa.Column("next_fetch", sa.DateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("url"),
    )
    op.create_table(
        "our_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("visibility", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("in_reply_to_account_id", sa.String(), nullable=True),
        sa.Column("reblog_of_account_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_our_posts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_our_posts_status_id"), ["status_id"], unique=True)

    op.create_table(
        "digest_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status_id", sa.String(), nullable=True),
        sa.Column("account_id", sa.String(), nullable=True),
        sa.Column("acct", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("excerpt", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest_id", "number", name="uq_digest_items_number"),
    )
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_items_status_id"), ["status_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_digest_items_url"), ["url"], unique=False)

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("action", sa.String(), nullable=False, server_default="post"))
        batch_op.add_column(sa.Column("triage", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("thread_key", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("sending_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_drafts_sent_at"), ["sent_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_drafts_thread_key"), ["thread_key"], unique=False)

    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interactions_direction_at", ["direction", "at", "account_id", "kind"], unique=False
        )
        batch_op.create_index(
            "ix_interactions_person_kind", ["account_id", "direction", "kind", "at"], unique=False
        )
        batch_op.create_index("ix_interactions_status", ["status_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_status")
        batch_op.drop_index("ix_interactions_person_kind")
        batch_op.drop_index("ix_interactions_direction_at")

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_thread_key"))
        batch_op.drop_index(batch_op.f("ix_drafts_sent_at"))
        batch_op.drop_column("sent_at")
        batch_op.drop_column("sending_at")
        batch_op.drop_column("thread_key")
        batch_op.drop_column("triage")
        batch_op.drop_column("action")

    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_items_url"))
        batch_op.drop_index(batch_op.f("ix_digest_items_status_id"))

    op.drop_table("digest_items")
    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_our_posts_status_id"))
        batch_op.drop_index(batch_op.f("ix_our_posts_created_at"))

    op.drop_table("our_posts")
    op.drop_table("feed_state")
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_entries_published"))

    op.drop_table("feed_entries")
    with op.batch_alter_table("dm_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dm_log_at"))

    op.drop_table("dm_log")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digests_created_at"))

    op.drop_table("digests")

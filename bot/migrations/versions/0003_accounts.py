"""Accounts sharing a store: every row carries its bot account (`owner`); rows from before belong
to the first account that starts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("base_url", sa.String(), nullable=False),
        sa.Column("token_fingerprint", sa.String(), nullable=False),
        sa.Column("last_started", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("owner"),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_accounts_token_fingerprint"), ["token_fingerprint"], unique=False
        )

    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_digest_items_owner"), ["owner"], unique=False)

    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_digests_owner"), ["owner"], unique=False)

    with op.batch_alter_table("dm_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_dm_log_owner"), ["owner"], unique=False)

    with op.batch_alter_table("draft_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_draft_messages_owner"), ["owner"], unique=False)

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_drafts_owner"), ["owner"], unique=False)

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.drop_index(batch_op.f("ix_events_notification_id"))
        batch_op.create_index(batch_op.f("ix_events_notification_id"), ["notification_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_owner"), ["owner"], unique=False)
        batch_op.create_unique_constraint("uq_events_notification", ["owner", "notification_id"])

    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.drop_constraint(batch_op.f("uq_feed_entries_entry"), type_="unique")
        batch_op.create_unique_constraint("uq_feed_entries_entry", ["owner", "feed_url", "entry_id"])
        batch_op.create_index(batch_op.f("ix_feed_entries_owner"), ["owner"], unique=False)

    with op.batch_alter_table("feed_state", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        _owner_in_primary_key(batch_op, "feed_state", "url")

    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_interactions_owner"), ["owner"], unique=False)

    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_notes_owner"), ["owner"], unique=False)

    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        batch_op.drop_index(batch_op.f("ix_our_posts_status_id"))
        batch_op.create_index(batch_op.f("ix_our_posts_status_id"), ["status_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_our_posts_owner"), ["owner"], unique=False)
        batch_op.create_unique_constraint("uq_our_posts_status", ["owner", "status_id"])

    with op.batch_alter_table("people", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        _owner_in_primary_key(batch_op, "people", "account_id")

    with op.batch_alter_table("state", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(), nullable=False, server_default=""))
        _owner_in_primary_key(batch_op, "state", "key")


def _owner_in_primary_key(batch_op: Any, table: str, key: str) -> None:
    """The key becomes (owner, key): two accounts may know the same person or state key."""
    if op.get_bind().dialect.name != "sqlite":  # SQLite's copy gets its key from create_primary_key
        batch_op.drop_constraint(f"{table}_pkey", type_="primary")
    batch_op.create_primary_key(f"{table}_pkey", ["owner", key])


def downgrade() -> None:
    with op.batch_alter_table("state", schema=None) as batch_op:
        batch_op.drop_column("owner")

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("owner")

    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_our_posts_status", type_="unique")
        batch_op.drop_index(batch_op.f("ix_our_posts_owner"))
        batch_op.drop_index(batch_op.f("ix_our_posts_status_id"))
        batch_op.create_index(batch_op.f("ix_our_posts_status_id"), ["status_id"], unique=1)
        batch_op.drop_column("owner")

    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_owner"))
        batch_op.drop_column("owner")

    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_owner"))
        batch_op.drop_column("owner")

    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.drop_column("owner")

    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_entries_owner"))
        batch_op.drop_constraint("uq_feed_entries_entry", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_feed_entries_entry"), ["feed_url", "entry_id"])
        batch_op.drop_column("owner")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_events_notification", type_="unique")
        batch_op.drop_index(batch_op.f("ix_events_owner"))
        batch_op.drop_index(batch_op.f("ix_events_notification_id"))
        batch_op.create_index(batch_op.f("ix_events_notification_id"), ["notification_id"], unique=1)
        batch_op.drop_column("owner")

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_owner"))
        batch_op.drop_column("owner")

    with op.batch_alter_table("draft_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_draft_messages_owner"))
        batch_op.drop_column("owner")

    with op.batch_alter_table("dm_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dm_log_owner"))
        batch_op.drop_column("owner")

    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digests_owner"))
        batch_op.drop_column("owner")

    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_items_owner"))
        batch_op.drop_column("owner")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_token_fingerprint"))

    op.drop_table("accounts")

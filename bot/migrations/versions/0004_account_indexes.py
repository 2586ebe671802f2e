"""Indexes led by the account (owner): the ledger queries at 100k people stay fast, and owner-only
indexes that lured the planner away from better ones are gone.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_items_owner"))

    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digests_owner"))

    with op.batch_alter_table("dm_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dm_log_owner"))

    with op.batch_alter_table("draft_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_draft_messages_owner"))

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_owner"))

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_owner"))
        batch_op.create_index("ix_events_owner_kind_created", ["owner", "kind", "created_at"], unique=False)

    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_entries_owner"))

    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions_owner"))
        batch_op.drop_index(batch_op.f("ix_interactions_direction_at"))
        batch_op.create_index(
            "ix_interactions_direction_at", ["owner", "direction", "at", "account_id", "kind"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_interactions_person_at"))
        batch_op.create_index("ix_interactions_person_at", ["owner", "account_id", "at"], unique=False)
        batch_op.drop_index(batch_op.f("ix_interactions_person_kind"))
        batch_op.create_index(
            "ix_interactions_person_kind", ["owner", "account_id", "direction", "kind", "at"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_interactions_status"))
        batch_op.create_index("ix_interactions_status", ["owner", "status_id"], unique=False)

    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_owner"))

    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_our_posts_owner"))


def downgrade() -> None:
    with op.batch_alter_table("our_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_our_posts_owner"), ["owner"], unique=False)

    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notes_owner"), ["owner"], unique=False)

    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_status")
        batch_op.create_index(batch_op.f("ix_interactions_status"), ["status_id"], unique=False)
        batch_op.drop_index("ix_interactions_person_kind")
        batch_op.create_index(
            batch_op.f("ix_interactions_person_kind"), ["account_id", "direction", "kind", "at"], unique=False
        )
        batch_op.drop_index("ix_interactions_person_at")
        batch_op.create_index(batch_op.f("ix_interactions_person_at"), ["account_id", "at"], unique=False)
        batch_op.drop_index("ix_interactions_direction_at")
        batch_op.create_index(
            batch_op.f("ix_interactions_direction_at"),
            ["direction", "at", "account_id", "kind"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_interactions_owner"), ["owner"], unique=False)

    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_entries_owner"), ["owner"], unique=False)

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_owner_kind_created")
        batch_op.create_index(batch_op.f("ix_events_owner"), ["owner"], unique=False)

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drafts_owner"), ["owner"], unique=False)

    with op.batch_alter_table("draft_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draft_messages_owner"), ["owner"], unique=False)

    with op.batch_alter_table("dm_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dm_log_owner"), ["owner"], unique=False)

    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digests_owner"), ["owner"], unique=False)

    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_items_owner"), ["owner"], unique=False)

"""Event attempts and quarantine: a failing event is retried with backoff, then set aside, never blocking.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("quarantined_at", sa.DateTime(), nullable=True))
        # The dispatcher's lanes (unhandled, not quarantined, of one kind or the rest, oldest first), and
        # the quarantine: quarantined events are never handled, so the same index finds them.
        batch_op.create_index(
            "ix_events_owner_unhandled",
            ["owner", "handled_at", "quarantined_at", "kind", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_owner_unhandled")
        batch_op.drop_column("quarantined_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")

"""When each draft was shown to the approvers, by the instance's clock: a command decides only drafts
shown before it was written.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shown_at", sa.DateTime(), nullable=True))
    # Drafts announced before this revision were shown when their DM went out.
    op.execute("UPDATE drafts SET shown_at = dm_sent_at WHERE dm_sent_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_column("shown_at")

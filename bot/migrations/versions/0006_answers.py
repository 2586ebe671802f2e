"""Answers: the texts offered for each answering draft, and the replies the store remembers or learned.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "draft_offers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(), nullable=False, server_default=""),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("entry", sa.String(), nullable=False, server_default=""),
        sa.Column("label", sa.String(), nullable=False, server_default=""),
        sa.Column("score", sa.Float(), nullable=False, server_default="0"),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("owner", "draft_id", "rank", name="uq_draft_offers_rank"),
    )
    op.create_index("ix_draft_offers_draft_id", "draft_offers", ["draft_id"])
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(), nullable=False, server_default=""),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("question", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("language", sa.String(), nullable=True),
        sa.Column("person", sa.String(), nullable=False, server_default=""),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("draft_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_answers_owner", "answers", ["owner"])
    op.create_index("ix_answers_draft_id", "answers", ["draft_id"])


def downgrade() -> None:
    op.drop_index("ix_answers_draft_id", table_name="answers")
    op.drop_index("ix_answers_owner", table_name="answers")
    op.drop_table("answers")
    op.drop_index("ix_draft_offers_draft_id", table_name="draft_offers")
    op.drop_table("draft_offers")

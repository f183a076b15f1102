"""guided /enroll answers kept in the database, for several processes

Revision ID: 0004_enroll_drafts
Revises: 0003_infusion_cancel_reason
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from study.types import UTCDateTime

revision: str = "0004_enroll_drafts"
down_revision: str | None = "0003_infusion_cancel_reason"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enroll_draft",
        sa.Column("telegram_user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("telegram_user_id", "chat_id"),
    )


def downgrade() -> None:
    op.drop_table("enroll_draft")

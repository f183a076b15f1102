"""which template, language and version each direct reply was (sentreply)

Revision ID: 0006_template_versions
Revises: 0005_due_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import study.types

revision: str = "0006_template_versions"
down_revision: str | None = "0005_due_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sentreply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sent_at", study.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("template_version", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sentreply", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sentreply_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sentreply_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sentreply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sentreply_sent_at"))
        batch_op.drop_index(batch_op.f("ix_sentreply_participant_id"))
    op.drop_table("sentreply")

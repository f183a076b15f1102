"""when each participant's check-ins are next due, and the indexes the sweeps select by

Revision ID: 0005_due_indexes
Revises: 0004_enroll_drafts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import study.types

revision: str = "0005_due_indexes"
down_revision: str | None = "0004_enroll_drafts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty for everyone: the first sweep works out each participant's (NULL: not known yet).
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("checkins_due_at", study.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_participant_checkins_due_at"), ["checkins_due_at"], unique=False
        )
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_target_date"), ["target_date"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_visit_appointment_date"), ["appointment_date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_visit_window_end"), ["window_end"], unique=False)
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkin_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_expires_at"))
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_window_end"))
        batch_op.drop_index(batch_op.f("ix_visit_appointment_date"))
        batch_op.drop_index(batch_op.f("ix_visit_target_date"))
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participant_checkins_due_at"))
        batch_op.drop_column("checkins_due_at")

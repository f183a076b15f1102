"""why a proposed re-dose was cancelled

Revision ID: 0003_infusion_cancel_reason
Revises: 0002_alert_delivery
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003_infusion_cancel_reason"
down_revision: str | None = "0002_alert_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("infusion", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("infusion", schema=None) as batch_op:
        batch_op.drop_column("cancel_reason")

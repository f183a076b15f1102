"""an index of the outbox by alert: an alert's cards are found when its state changes

Revision ID: 0007_outbox_alert_index
Revises: 0006_template_versions
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_outbox_alert_index"
down_revision: str | None = "0006_template_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outboxmessage_alert_id"), ["alert_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outboxmessage_alert_id"))

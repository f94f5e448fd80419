"""Hooks' secrets and callback API keys are stored encrypted (secret_box.py): longer than the text they hold, so
their columns become unbounded text.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hooks") as batch:
        batch.alter_column("callback_apikey", type_=sa.Text, existing_type=sa.String(512))
        batch.alter_column("secret", type_=sa.Text, existing_type=sa.String(256))


def downgrade() -> None:
    with op.batch_alter_table("hooks") as batch:
        batch.alter_column("secret", type_=sa.String(256), existing_type=sa.Text)
        batch.alter_column("callback_apikey", type_=sa.String(512), existing_type=sa.Text)

"""The owner's loop: question log, feedback, curated answers (versioned) and the agent's persona.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("greeting", sa.Text(), nullable=True))
        batch.add_column(sa.Column("style", sa.String(20), nullable=False, server_default="concise"))
        batch.add_column(
            sa.Column("answer_length", sa.String(20), nullable=False, server_default="medium")
        )
        batch.add_column(sa.Column("keep_log", sa.String(20), nullable=False, server_default="forever"))
    op.create_table(
        "curated_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("source", sa.String(2000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedder_id", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_curated_answers_agent_id", "curated_answers", ["agent_id"])
    op.create_table(
        "curated_answer_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "curated_answer_id",
            sa.Integer(),
            sa.ForeignKey("curated_answers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("source", sa.String(2000), nullable=True),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_curated_answer_versions_curated_answer_id", "curated_answer_versions", ["curated_answer_id"]
    )
    op.create_table(
        "question_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "message_id", sa.Integer(), sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("abstained", sa.Boolean(), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(200), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column(
            "api_key_id", sa.Integer(), sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column(
            "curated_answer_id",
            sa.Integer(),
            sa.ForeignKey("curated_answers.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.create_index("ix_question_log_agent_asked", "question_log", ["agent_id", "asked_at"])
    op.create_index("ix_question_log_message_id", "question_log", ["message_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "log_id", sa.Integer(), sa.ForeignKey("question_log.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column(
            "message_id", sa.Integer(), sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column(
            "api_key_id", sa.Integer(), sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_agent_id", "feedback", ["agent_id"])
    op.create_index("ix_feedback_log_id", "feedback", ["log_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("question_log")
    op.drop_table("curated_answer_versions")
    op.drop_table("curated_answers")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("keep_log")
        batch.drop_column("answer_length")
        batch.drop_column("style")
        batch.drop_column("greeting")

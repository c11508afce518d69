"""pgvector: the tables that hold agents' vectors and BM25 postings inside PostgreSQL.

Only on PostgreSQL where the `vector` extension (pgvector) is installed in the database, or
available on the server to a superuser: there it creates the extension and the shared tables of
`agentkit.index.pg_schema`. On SQLite, and on a PostgreSQL without pgvector, it changes nothing
(agents keep their index files); install pgvector later and `agentkit index move NAME --to
pgvector` creates them.

Each agent on pgvector also gets its own vector table, `agentkit_vectors_<agent id>`, with a
`vector(N)` column of its embedder's dimension; those are created at run time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from agentkit.index.pg_schema import create_pgvector_schema, drop_pgvector_schema, vector_extension_available
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql" or not vector_extension_available(connection):
        return
    create_pgvector_schema(connection)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        drop_pgvector_schema(connection)

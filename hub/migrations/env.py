"""Alembic environment: the URL comes from ``hub.pipeline.store.alembic_config``, never from a
file. The target metadata is every layer's tables on the one ``Base``: each layer's models
module is imported here, so autogenerate and comparisons see them all whatever else the
process imported."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import hub.pipeline.models
import hub.program.models  # noqa: F401 - registers the partner-record tables
from hub.pipeline.store import Base

config = context.config
url = config.attributes["sqlalchemy_url"]

connectable = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()

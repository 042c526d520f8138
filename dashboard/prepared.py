"""Server-side prepared statements on PostgreSQL, for statements run on every ingest batch.

Django binds parameters on the client, so PostgreSQL plans each statement it receives again:
~2 ms for the rollup upsert, as long as running it. A statement prepared once per database
session is planned once (PostgreSQL keeps a generic plan after five runs). Prepared statements
outlive transactions, rolled back or not, and end with the session.
"""

import weakref

from django.db import connection

# The names prepared in each open session, keyed by psycopg's connection object: a new
# session (Django reconnects after CONN_MAX_AGE or a failed health check) prepares again.
_prepared: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()


def execute_prepared(cursor, name: str, types: str, sql: str, params: list):
    """Run `sql` (parameters written $1, $2... of `types`, e.g. "text[], text", or none) as
    the prepared statement `name`, preparing it first in this session if needed."""
    raw = connection.connection
    names = _prepared.setdefault(raw, set())
    if name not in names:
        cursor.execute(
            f"PREPARE {name} ({types}) AS {sql}" if types else f"PREPARE {name} AS {sql}"
        )
        names.add(name)
    placeholders = ", ".join(["%s"] * len(params))
    cursor.execute(f"EXECUTE {name} ({placeholders})" if params else f"EXECUTE {name}", params)

import pytest
from django.db import connection

from dashboard.prepared import execute_prepared

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)


def _prepared_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
        return [name for (name,) in cursor.fetchall()]


def _double(value: int) -> int:
    with connection.cursor() as cursor:
        execute_prepared(cursor, "test_double", "integer", "SELECT $1 * 2", [value])
        return cursor.fetchone()[0]


def test_it_prepares_a_statement_once_and_runs_it_with_each_call_s_parameters(db):
    assert (_double(2), _double(21)) == (4, 42)
    assert _prepared_names().count("test_double") == 1


def test_it_prepares_again_in_a_new_database_session(transactional_db):
    assert _double(1) == 2
    connection.close()
    assert _double(5) == 10
    assert "test_double" in _prepared_names()


def test_it_runs_a_statement_without_parameters(db):
    with connection.cursor() as cursor:
        execute_prepared(cursor, "test_answer", "", "SELECT 42", [])
        assert cursor.fetchone()[0] == 42

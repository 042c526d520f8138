from dashboard.celery import app


def broker_reachable(timeout: float = 2.0) -> bool:
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False

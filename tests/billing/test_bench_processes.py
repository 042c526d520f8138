from pathlib import Path

import pytest

from billing.bench.processes import database_url
from dashboard.env import database_from_url

POSTGRES = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "test_maven",
    "USER": "root",
    "PASSWORD": "",
    "HOST": "127.0.0.1",
    "PORT": "5432",
    "OPTIONS": {},
}


@pytest.mark.parametrize(
    "database",
    [
        POSTGRES,
        POSTGRES | {"USER": "me@corp", "PASSWORD": "p/ss:w@rd#1", "HOST": "db.internal"},
        POSTGRES | {"PORT": "", "OPTIONS": {"sslmode": "require"}},
        POSTGRES | {"USER": "", "HOST": "", "PORT": ""},
        {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/data/test.sqlite3"},
    ],
    ids=["plain", "quoted", "options", "socket", "sqlite"],
)
def test_another_process_opens_the_same_database(database):
    opened = database_from_url(database_url(database), base_dir=Path("/srv/app"))
    assert {key: opened[key] for key in database} == database

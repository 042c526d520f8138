"""Settings from the environment, checked the way a deployment starts: in a fresh process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _example_env() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _production_env(**overrides) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _example_env()}
    env.update(_example_env())
    env.update(
        SECRET_KEY=secrets.token_urlsafe(60),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    env.update(overrides)
    return env


def _manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_passes_the_deploy_check_with_the_example_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = _manage("check", env=_production_env(SECRET_KEY=""))
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_it_refuses_to_start_without_encryption_keys_when_debug_is_off():
    result = _manage("check", env=_production_env(FIELD_ENCRYPTION_KEYS=""))
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set" in result.stderr


def test_it_names_the_variable_that_holds_nonsense():
    result = _manage("check", env=_production_env(EMAIL_PORT="twenty-five"))
    assert result.returncode != 0
    assert "EMAIL_PORT='twenty-five' is not a whole number" in result.stderr


def test_it_runs_with_no_environment_at_all():
    env = {k: v for k, v in os.environ.items() if k not in _example_env()}
    result = _manage("check", env=env)
    assert result.returncode == 0, result.stderr


def test_it_refuses_to_start_with_a_raw_usage_retention_that_is_not_a_positive_number():
    for value in ["0", "-1", "twelve", "1.5"]:
        result = _manage("check", env=_production_env(USAGE_RAW_RETENTION_MONTHS=value))
        assert result.returncode != 0, value
        assert "USAGE_RAW_RETENTION_MONTHS=" in result.stderr, value


def test_it_starts_with_a_raw_usage_retention_in_whole_months():
    result = _manage("check", env=_production_env(USAGE_RAW_RETENTION_MONTHS="13"))
    assert result.returncode == 0, result.stdout + result.stderr

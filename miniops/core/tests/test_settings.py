"""Settings come from the environment only; production refuses unsafe defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MINIOPS_", "DJANGO_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    clean.pop("SECRET_KEY", None)
    clean.pop("ALLOWED_HOSTS", None)
    clean["MINIOPS_VAR_DIR"] = os.environ["MINIOPS_VAR_DIR"]
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "MINIOPS_ENV": "production",
    "SECRET_KEY": "x" * 30 + "-production-secret-key-for-the-check-" + "y" * 20,
    "ALLOWED_HOSTS": "shop.example.com",
    "MINIOPS_PROVIDER_MODE": "live",
    "MINIOPS_FIELD_KEYS": "7JZ2vV1d0m2i0nV8n3r3F3vQq7o9G6K0m5QbJp1rXyA=",
    "MINIOPS_BLIND_INDEX_KEY": "a-long-random-blind-index-key-for-the-deploy-check",
    "PUBLIC_BASE_URL": "https://shop.example.com",
}


def test_production_refuses_to_start_without_secret_key() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_deploy_check_reports_zero_warnings() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_simulated_providers_are_refused_in_production() -> None:
    env = {**PRODUCTION, "MINIOPS_PROVIDER_MODE": "simulator"}
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "miniops.E001" in result.stdout + result.stderr


def test_production_refuses_to_start_without_encryption_keys() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "MINIOPS_FIELD_KEYS"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "MINIOPS_FIELD_KEYS" in result.stderr


def test_bad_values_are_refused_with_the_variable_named() -> None:
    result = run_manage("check", env={"MINIOPS_SESSION_IDLE_MINUTES": "soon"})
    assert result.returncode != 0
    assert "MINIOPS_SESSION_IDLE_MINUTES" in result.stderr


def test_passwords_are_hashed_with_argon2() -> None:
    from miniops import settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("embedded default only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000


def test_engines_follow_the_environment() -> None:
    if os.environ.get("DATABASE_URL"):
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    else:
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    if os.environ.get("REDIS_URL"):
        assert "redis" in settings.CACHES["default"]["BACKEND"].lower()
        assert "Redis" in settings.HUEY["huey_class"]
        assert "channels_redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]
    else:
        assert "locmem" in settings.CACHES["default"]["BACKEND"]
        assert "Sqlite" in settings.HUEY["huey_class"]
        assert "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"]


def test_production_warns_without_an_absolute_https_media_address() -> None:
    unset = {k: v for k, v in PRODUCTION.items() if k != "PUBLIC_BASE_URL"}
    result = run_manage("check", env=unset)
    assert result.returncode == 0  # a warning: the console works without it
    assert "miniops.W001" in result.stdout + result.stderr
    plain = run_manage("check", env={**PRODUCTION, "PUBLIC_BASE_URL": "http://shop.example.com"})
    assert "miniops.W002" in plain.stdout + plain.stderr


def test_a_public_base_url_that_is_not_an_address_is_refused() -> None:
    result = run_manage("check", env={"PUBLIC_BASE_URL": "shop.example.com"})
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL" in result.stderr

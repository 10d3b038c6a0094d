"""Migrations as a step of their own: `leadpool migrate --check` tells a database behind the
binary, a server told not to migrate (LEADPOOL_MIGRATE_ON_START=false) refuses to start on it
with a message naming the pending migrations and the command, `leadpool migrate` applies them,
and then both the check and the server are content."""

import os
import subprocess

from conftest import START_TIMEOUT_S, fresh_database, leadpool_binary


def leadpool(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(leadpool_binary()), *args],
        env={**os.environ, **env, "LEADPOOL_LOG_FORMAT": "json", "LEADPOOL_LOG": "info,sqlx=warn",
             "LEADPOOL_LISTEN": "127.0.0.1:0", "LEADPOOL_METRICS_LISTEN": ""},
        capture_output=True, text=True, timeout=START_TIMEOUT_S,
    )


def test_migrate_check_refuses_a_behind_schema_until_migrate_applies_it():
    with fresh_database() as env:
        behind = leadpool(env, "migrate", "--check")
        assert behind.returncode == 1, behind
        assert "pending" in behind.stdout + behind.stderr

        refused = leadpool({**env, "LEADPOOL_MIGRATE_ON_START": "false"})
        assert refused.returncode == 1, refused
        output = refused.stdout + refused.stderr
        assert "older than this binary" in output and "leadpool migrate" in output, output
        assert "20261123000001 foundation" in output, output

        applied = leadpool(env, "migrate")
        assert applied.returncode == 0, applied
        assert "the schema is up to date" in applied.stdout + applied.stderr

        level = leadpool(env, "migrate", "--check")
        assert level.returncode == 0, level

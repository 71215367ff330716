"""The real `dwell` CLI in a subprocess: exit codes and what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def dwell(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
          ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=60)


def test_check_refuses_unknown_key_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\nlinger_z = 3\n")
    result = dwell("config", "check", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "policy.linger_z: unknown key" in result.stderr


def test_check_accepts_valid_file(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[policy]\nlinger_s = 20\n")
    result = dwell("config", "check", str(good), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_global_config_option(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 0\n")
    assert dwell("--config", str(bad), "config", "check", cwd=tmp_path).returncode == 2


def test_show_applies_environment_and_masks_secret(tmp_path: Path) -> None:
    result = dwell("config", "show", cwd=tmp_path,
                   env={"DWELL_POLICY__LINGER_S": "17", "DWELL_MQTT__PASSWORD": "hunter2"})
    assert result.returncode == 0, result.stderr
    assert "linger_s = 17" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    assert 'password = "********"' in result.stdout


def test_show_json_is_parseable(tmp_path: Path) -> None:
    import json

    result = dwell("config", "show", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["policy"]["space_window_s"] == 90


def test_bad_environment_exits_2(tmp_path: Path) -> None:
    result = dwell("config", "show", cwd=tmp_path, env={"DWELL_MQTT__PORT": "x"})
    assert result.returncode == 2 and "mqtt.port" in result.stderr


@pytest.mark.parametrize("args", [[], ["nonsense"]])
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    assert dwell(*args, cwd=tmp_path).returncode == 2


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    out = dwell("--help", cwd=tmp_path).stdout
    for name in ["run", "replay", "record", "watch", "models", "config", "demo", "bench"]:
        assert name in out

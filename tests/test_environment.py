"""DWELL_* variables: every one is a setting or is refused by name, through the real CLI too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config.environment import NOT_SETTINGS, all_names
from edge.config.settings import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.upper().startswith("DWELL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def dwell(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("DWELL_")}
    config = tmp_path / "dwell.toml"
    config.write_text("[policy]\nlinger_s = 40\n")
    return subprocess.run([sys.executable, "-m", "edge.cli", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=tmp_path, env={**clean, **env},
                          timeout=60)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("DWELL_FOO", "1", "DWELL_FOO: not a dwell setting"),
    ("DWELL_POLICY_LINGER_S", "3", "did you mean DWELL_POLICY__LINGER_S?"),
    ("DWELL_POLICY__LINGER_Z", "3", "DWELL_POLICY__LINGER_Z: not a dwell setting"),
    ("DWELL_POLCY__LINGER_S", "3", "did you mean DWELL_POLICY__LINGER_S?"),
    ("DWELL_ZONES", '[{"name": "desk",', "DWELL_ZONES: not valid JSON"),
    ("DWELL_POLICY", "{linger_s: 3}", "DWELL_POLICY: not valid JSON"),
    ("DWELL_POLICY__LINGER_S", "soon", "DWELL_POLICY__LINGER_S: policy.linger_s: Input should"),
    ("DWELL_POLICY", '{"linger_z": 3}', "DWELL_POLICY: policy.linger_z: unknown key"),
    ("DWELL_ZONES", '[{"name": "a", "kind": "till", "polygon": [[0,0],[1,0],[1,1]]}]',
     "DWELL_ZONES: zones.0.kind:"),
])
def test_cli_refuses_bad_variable_by_name(tmp_path: Path, name: str, value: str,
                                          says: str) -> None:
    result = dwell(tmp_path, {name: value}, "config", "check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert "dwell.toml" not in result.stderr  # the file is not to blame


def test_file_errors_still_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\nlinger_s = -1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: policy\.linger_s"):
        load_settings(bad)


def test_variable_and_file_setting_the_same_section_are_told_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\nspace_window_s = -5\n")
    monkeypatch.setenv("DWELL_POLICY__LINGER_S", "-1")
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    lines = str(err.value).splitlines()
    assert any(line.startswith("DWELL_POLICY__LINGER_S: policy.linger_s:") for line in lines)
    assert any(line.startswith(f"{bad}: policy.space_window_s:") for line in lines)


@pytest.mark.parametrize(("name", "value"), [
    ("DWELL_POLICY__LINGER_S", "17"),
    ("DWELL_MODELS_DIR", "/opt/models"),
    ("DWELL_LOG__JSON", "true"),  # an alias: the environment spells it as the file does
    ("DWELL_MQTT__TLS__ENABLED", "false"),
    ("dwell_policy__linger_s", "17"),  # pydantic-settings is case-insensitive; so are we
    ("DWELL_POLICY", '{"linger_s": 17}'),
])
def test_every_real_setting_is_accepted(monkeypatch: pytest.MonkeyPatch, name: str,
                                        value: str) -> None:
    monkeypatch.setenv(name, value)
    load_settings()


def test_variables_the_project_itself_reads_keep_working(tmp_path: Path) -> None:
    env = {"DWELL_VENV": ".venv-x", "DWELL_SHARED": "/srv/shared", "DWELL_CONFIG": "/dev/null"}
    result = dwell(tmp_path, env, "config", "check")
    assert result.returncode == 0, result.stderr
    assert {"DWELL_CONFIG", "DWELL_VENV", "DWELL_SHARED"} <= set(NOT_SETTINGS)


def test_deliberate_extras_are_allowed_by_name(tmp_path: Path) -> None:
    env = {"DWELL_SITE": "north", "DWELL_ROTA": "x", "DWELL_ENV_ALLOW": "DWELL_SITE, DWELL_ROTA"}
    assert dwell(tmp_path, env, "config", "check").returncode == 0
    refused = dwell(tmp_path, {**env, "DWELL_ENV_ALLOW": "DWELL_SITE"}, "config", "check")
    assert refused.returncode == 2 and "DWELL_ROTA: not a dwell setting" in refused.stderr


def test_every_documented_variable_name_resolves() -> None:
    names = set(all_names(Settings))
    assert {"DWELL_POLICY__LINGER_S", "DWELL_MQTT__TLS__CA_FILE", "DWELL_ZONES",
            "DWELL_LOG__JSON", "DWELL_STATE_DIR"} <= names

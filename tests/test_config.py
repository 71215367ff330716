"""Config loading: file, environment, precedence, and every refusal path names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.render import default_config_text
from edge.config.settings import ConfigError, load_settings, masked_dict

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("DWELL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no ./config/dwell.toml unless a test writes one


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dwell.toml"
    path.write_text(text)
    return path


def test_defaults_without_file() -> None:
    s = load_settings()
    assert s.policy.space_window_s == 90
    assert s.policy.linger_s == 30
    assert s.policy.look_around_turns == 3
    assert s.policy.look_around_window_s == 10
    assert s.policy.visitor_cooldown_s == 300
    assert s.policy.max_pings_per_minute == 4
    assert s.mqtt.topic_prefix == "dwell"
    assert s.detector.model == "ssdlite-pedestrian"
    assert s.zones == []


def test_file_values(tmp_path: Path) -> None:
    path = write(tmp_path, """
store = "bakery"
[policy]
linger_s = 45
[detector]
model = "yolox-nano"
[[zones]]
name = "desk"
kind = "help_point"
polygon = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]
""")
    s = load_settings(path)
    assert (s.store, s.policy.linger_s, s.detector.model) == ("bakery", 45, "yolox-nano")
    assert s.zones[0].name == "desk" and s.zones[0].kind == "help_point"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[policy]\nlinger_s = 45\nspace_window_s = 60\n")
    monkeypatch.setenv("DWELL_POLICY__LINGER_S", "17")
    monkeypatch.setenv("DWELL_DETECTOR__MODEL", "yolox-nano")
    monkeypatch.setenv("DWELL_MODELS_DIR", "/opt/models")
    s = load_settings(path)
    assert s.policy.linger_s == 17
    assert s.policy.space_window_s == 60  # untouched keys keep the file's value
    assert s.detector.model == "yolox-nano"
    assert s.models_dir == Path("/opt/models")


def test_zones_from_environment_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWELL_ZONES",
                       '[{"name": "till", "kind": "staff", "polygon": [[0,0],[0.2,0],[0.2,0.3]]}]')
    assert load_settings().zones[0].kind == "staff"


def test_dwell_config_env_chooses_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'camera = "back-door"\n')
    monkeypatch.setenv("DWELL_CONFIG", str(path))
    assert load_settings().camera == "back-door"


def test_default_file_in_working_directory(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "dwell.toml").write_text('store = "corner"\n')
    assert load_settings().store == "corner"


@pytest.mark.parametrize(
    ("toml", "key", "why"),
    [
        ("[policy]\nlinger_z = 3\n", "policy.linger_z", "unknown key"),
        ("colour = 3\n", "colour", "unknown key"),
        ("[polcy]\nlinger_s = 3\n", "polcy", "unknown key"),
        ("[policy]\nlinger_s = 'long'\n", "policy.linger_s", "valid number"),
        ("[policy]\nlinger_s = -1\n", "policy.linger_s", "greater than 0"),
        ("[policy]\nmax_pings_per_minute = 0\n", "policy.max_pings_per_minute", "greater than"),
        ("[mqtt]\nport = 70000\n", "mqtt.port", "less than or equal"),
        ("[detector]\nmodel = 'hog'\n", "detector.model", "yolox-nano"),
        ("[detector]\ninput_size = 300\n", "detector.input_size", "320"),
        ("store = 'a/b'\n", "store", "pattern"),
        ("[mqtt.tls]\ncert_file = 'c.pem'\n", "mqtt.tls", "go together"),
        ("[policy]\nopening_hours = ['9-17']\n", "policy.opening_hours", "HH:MM"),
        ("[[zones]]\nname='a'\nkind='help_point'\npolygon=[[0,0],[1,1]]\n",
         "zones.0.polygon", "at least 3 points"),
        ("[[zones]]\nname='a'\nkind='help_point'\npolygon=[[0,0],[1.2,0],[1,1]]\n",
         "zones.0.polygon", "outside 0..1"),
        ("[[zones]]\nname='a'\nkind='help_point'\npolygon=[[0,0],[1,1],[1,0],[0,1]]\n",
         "zones.0.polygon", "self-intersecting"),
        ("[[zones]]\nname='a'\nkind='till'\npolygon=[[0,0],[1,0],[1,1]]\n",
         "zones.0.kind", "help_point"),
        ("[[zones]]\nname='a'\nkind='staff'\npolygon=[[0,0],[1,0],[1,1]]\n"
         "[[zones]]\nname='a'\nkind='staff'\npolygon=[[0,0],[1,0],[1,1]]\n", "", "used twice"),
    ],
)
def test_refusals_name_key_and_reason(tmp_path: Path, toml: str, key: str, why: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert f"{key}:" in message if key else True
    assert why in message


def test_env_refusal_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWELL_POLICY__LINGER_Z", "3")
    with pytest.raises(ConfigError, match=r"^DWELL_POLICY__LINGER_Z: not a dwell setting"):
        load_settings()


@pytest.mark.parametrize(("text", "why"), [("[policy\n", "not valid TOML"),
                                           ("linger_s = = 3\n", "not valid TOML")])
def test_broken_toml(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        load_settings(write(tmp_path, text))


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_password_never_in_errors_or_dumps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWELL_MQTT__PASSWORD", "hunter2")
    s = load_settings()
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s) and "hunter2" not in str(masked_dict(s))
    monkeypatch.delenv("DWELL_MQTT__PASSWORD")
    path = write(tmp_path, "[mqtt]\npassword = ['hunter3']\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "mqtt.password" in str(err.value) and "hunter3" not in str(err.value)


def test_shipped_config_is_valid_and_documents_every_key() -> None:
    shipped = (REPO / "config" / "dwell.toml").read_text()
    assert shipped == default_config_text(), "regenerate: dwell config default > config/dwell.toml"
    load_settings(REPO / "config" / "dwell.toml")

"""The one configuration of a dwell sensor: a TOML file overridden by DWELL_* environment variables.

Precedence (highest first): environment (prefix ``DWELL_``, nested delimiter ``__``), the TOML
file, the defaults below. The file is ``--config FILE``, else ``$DWELL_CONFIG``, else
``config/dwell.toml`` in the working directory, else none (defaults only).

Config holds plain data only: each stage derives what it needs (zone masks, topic names) itself.
Every key refuses unknown siblings (``extra="forbid"``) so that a typo never silently falls back
to a default, and every ``DWELL_*`` variable must name a setting (edge/config/environment.py:
a deliberate extra goes in ``DWELL_ENV_ALLOW``). An error in a value from the environment names
the variable, one from the file names the file. The names here are a contract with owners,
scripts and tests.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from edge.config.collect import CollectConfig
from edge.config.console import ConsoleConfig, RecordConfig
from edge.config.environment import EnvSetting, read_environment, setting_for
from edge.config.mqtt import MqttConfig, NtfyConfig
from edge.config.sections import (
    BehaviourConfig,
    DetectorConfig,
    LogConfig,
    MotionConfig,
    PolicyConfig,
    SourceConfig,
    TrackerConfig,
    YawConfig,
    Zone,
)

DEFAULT_CONFIG = Path("config/dwell.toml")
CONFIG_ENV = "DWELL_CONFIG"


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the key and the reason."""


class Settings(BaseSettings):
    """Effective configuration: defaults < TOML file < DWELL_* environment."""

    model_config = SettingsConfigDict(
        env_prefix="DWELL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    store: str = Field(
        "shop", pattern=r"^[A-Za-z0-9_.-]+$", description="Store id, used in MQTT topics."
    )
    camera: str = Field(
        "entrance", pattern=r"^[A-Za-z0-9_.-]+$", description="Camera id, used in MQTT topics."
    )
    models_dir: Path | None = Field(
        None, description="Where model files are looked for first (then the models vendored in the "
        "package, then the user data directory).",
    )
    state_dir: Path = Field(
        Path("state"), description="Writable directory for the ping outbox and counters "
        "(/var/lib/dwell under systemd).",
    )
    source: SourceConfig = Field(default_factory=SourceConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    yaw: YawConfig = Field(default_factory=YawConfig)
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    zones: list[Zone] = Field(default_factory=list)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    ntfy: NtfyConfig = Field(default_factory=NtfyConfig)
    collect: CollectConfig = Field(default_factory=CollectConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    record: RecordConfig = Field(default_factory=RecordConfig)

    @model_validator(mode="after")
    def _unique_zone_names(self) -> Settings:
        names = [z.name for z in self.zones]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"zone name {name!r} is used twice")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def resolve_config_path(path: str | Path | None) -> Path | None:
    """--config beats $DWELL_CONFIG beats ./config/dwell.toml; None when there is no file."""
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate; raise ConfigError naming the offending key and why."""
    config_path = resolve_config_path(path)
    from_env, problems = read_environment(Settings, os.environ)
    if problems:
        raise ConfigError("\n".join(problems))
    if config_path is not None:
        _check_toml_readable(config_path)

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=config_path)

    # DWELL_CONFIG names the file; it is not a setting of its own.
    saved = os.environ.pop(CONFIG_ENV, None)
    try:
        loaded = _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, config_path, from_env)) from None
    except SettingsError as exc:  # a value pydantic-settings could not parse (checked above)
        raise ConfigError(f"environment: {exc}") from None
    finally:
        if saved is not None:
            os.environ[CONFIG_ENV] = saved
    return loaded


def _check_toml_readable(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except PermissionError:
        raise ConfigError(f"{path}: config file not readable (permission denied)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def format_validation_error(exc: ValidationError, path: Path | None = None,
                            from_env: list[EnvSetting] | None = None) -> str:
    """One line per problem, naming where the value came from: ``bad.toml: policy.linger_z:
    unknown key`` or ``DWELL_POLICY__LINGER_S: policy.linger_s: ...``."""
    lines = []
    for err in exc.errors():
        env = setting_for(tuple(err["loc"]), from_env or [])
        where = f"{env.name}: " if env else (f"{path}: " if path else "")
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        else:
            reason = err["msg"]
            shown = "input" in err and not isinstance(err["input"], dict | list)
            if shown and "password" not in key:
                reason += f" (got {err['input']!r})"
        lines.append(f"{where}{key}: {reason}")
    return "\n".join(lines)


def masked_dict(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets replaced by '********'."""
    data = settings.model_dump(mode="json", by_alias=True)
    if settings.mqtt.password is not None:
        data["mqtt"]["password"] = "********"
    if settings.console.password is not None:
        data["console"]["password"] = "********"
    for key in ("token", "ack_secret"):
        if data["ntfy"].get(key) is not None:
            data["ntfy"][key] = "********"
    if settings.collect.database_url is not None:
        data["collect"]["database_url"] = "********"
    return data

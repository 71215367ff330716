"""Settings: one TOML file plus DWELL_* environment, validated (pydantic-settings, extra=forbid)."""

"""Logging: JSON lines off a TTY (journald), readable text on one, level honoured."""

from __future__ import annotations

import json
import logging

import pytest

from edge.service.logs import setup_logging


def test_json_lines_carry_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", json_logs=None)  # pytest's stderr is not a TTY
    logging.getLogger("dwell.test").info("ping sent", extra={"ping_id": "p1"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    data = json.loads(line)
    assert data["msg"] == "ping sent" and data["ping_id"] == "p1" and data["level"] == "INFO"


def test_text_format_and_level(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("WARNING", json_logs=False)
    logging.getLogger("dwell.test").info("hidden")
    logging.getLogger("dwell.test").warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "WARNING" in err and "shown" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.strip())

"""Issue 11: `dwell watch` and `dwell bridge ntfy` raise CommandError and let cli/main.py print
it (one line, the same text as before, the exit code it carries) instead of printing their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli.common import EXIT_FAILURE, EXIT_USAGE, CommandError
from edge.cli.main import build_parser, main


@pytest.mark.parametrize(("argv", "code", "text"), [
    (["watch", "--count", "0"], EXIT_USAGE, "--count must be at least 1"),
    (["watch", "--password-file", "/nonexistent/pw"], EXIT_USAGE,
     "--password-file: No such file or directory: /nonexistent/pw"),
    (["bridge", "ntfy"], EXIT_USAGE, "no ntfy topic: set [ntfy] topic or pass --topic"),
    (["bridge", "ntfy", "--topic", "t"], EXIT_USAGE, "ntfy.ack_url is not set"),
    (["bridge", "ntfy", "--topic", "t", "--ack-url", "ftp://x"], EXIT_USAGE, "--ack-url: "),
])
def test_errors_are_raised_for_the_central_handler(argv: list[str], code: int, text: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DWELL_STATE_DIR", str(tmp_path))
    args = build_parser().parse_args(["--config", "/dev/null", *argv])
    with pytest.raises(CommandError) as raised:
        args.func(args)
    assert raised.value.code == code and str(raised.value).startswith(text)
    assert capsys.readouterr().err == ""  # nothing printed by the command itself
    assert main(["--config", "/dev/null", *argv]) == code
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"dwell {' '.join(argv[:2 if argv[0] == 'bridge' else 1])}: {text}")


def test_an_unreachable_broker_is_a_command_error(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("DWELL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DWELL_MQTT__PORT", "1")
    args = build_parser().parse_args(["--config", "/dev/null", "watch", "--count", "1"])
    with pytest.raises(CommandError) as raised:
        args.func(args)
    assert raised.value.code == EXIT_FAILURE and "unreachable" in str(raised.value)

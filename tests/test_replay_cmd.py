"""`dwell replay` end to end through the real CLI: golden events, determinism, errors, MOT."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.builders import GOLDEN_CONFIG, GOLDEN_EVENTS, GOLDEN_TRACE, SIZE
from tests.conftest import shared_file

REPO = Path(__file__).resolve().parent.parent


def dwell(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def test_golden_trace_gives_the_golden_events(tmp_path: Path) -> None:
    """Guards against silent behaviour changes. After an intended change, regenerate with
    `.venv/bin/python -m tests.builders golden` and review the diff of golden_events.jsonl."""
    out = tmp_path / "events.jsonl"
    result = dwell("--config", str(GOLDEN_CONFIG), "replay", str(GOLDEN_TRACE), "--out",
                   str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == GOLDEN_EVENTS.read_text().splitlines()
    types = {line.split('"')[3] for line in out.read_text().splitlines()}
    assert {"visit_start", "visit_end", "ping", "held", "party", "attended"} <= types


def test_replay_is_deterministic_whatever_the_file_is_called(tmp_path: Path) -> None:
    copy = tmp_path / "yesterday.jsonl"
    shutil.copy(GOLDEN_TRACE, copy)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for trace, out in ((copy, a), (GOLDEN_TRACE, b)):
        result = dwell("--config", str(GOLDEN_CONFIG), "replay", str(trace), "--out", str(out),
                       cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert a.read_bytes() == b.read_bytes()


def test_summary_and_explain(tmp_path: Path) -> None:
    result = dwell("--config", str(GOLDEN_CONFIG), "replay", str(GOLDEN_TRACE), "--explain",
                   cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^visits: 8 \(\+1 staff\)$", out, re.M)
    assert re.search(r"^dwell: median [\d.]+ s, p90 [\d.]+ s", out, re.M)
    assert re.search(r"^pings: 3, help_point 1, linger 2$", out, re.M)
    assert re.search(r"^held back: \d+, .*space_window \d+", out, re.M)
    assert re.search(r"visitor 7 +linger +held: party \(visitor 6 of the same party", out)
    assert "opening hours" not in out


def test_malformed_trace_names_the_line_and_leaves_no_output(tmp_path: Path) -> None:
    lines = GOLDEN_TRACE.read_text().splitlines()
    lines[99] = lines[99].replace('"score":', '"score":"high","x":')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "events.jsonl"
    result = dwell("replay", str(bad), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert "bad.jsonl:100:" in result.stderr and "score" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_malformed_mot_line_is_named(tmp_path: Path) -> None:
    mot = tmp_path / "det.txt"
    mot.write_text("1,-1,10,10,50,120,0.9\n2,-1,10,10,fifty,120,0.9\n")
    result = dwell("replay", str(mot), "--fps", "25", "--size", "640x480", "--out",
                   str(tmp_path / "e.jsonl"), cwd=tmp_path)
    assert result.returncode == 2 and "det.txt:2:" in result.stderr
    assert not (tmp_path / "e.jsonl").exists()


def test_bad_usage_is_refused(tmp_path: Path) -> None:
    assert dwell("replay", str(tmp_path / "missing.jsonl"), cwd=tmp_path).returncode == 2
    result = dwell("replay", str(GOLDEN_TRACE), "--size", "640by480", cwd=tmp_path)
    assert result.returncode == 2 and "WxH" in result.stderr
    result = dwell("replay", str(GOLDEN_TRACE), "--speed", "0", cwd=tmp_path)
    assert result.returncode == 2


def test_opening_hours_without_a_start_time_are_reported_not_applied(tmp_path: Path) -> None:
    cfg = tmp_path / "hours.toml"
    cfg.write_text(GOLDEN_CONFIG.read_text().replace(
        "max_pings_per_minute", 'opening_hours = ["09:00-18:00"]\nmax_pings_per_minute'))
    result = dwell("--config", str(cfg), "replay", str(GOLDEN_TRACE), cwd=tmp_path)
    assert "opening hours: NOT applied" in result.stdout
    assert re.search(r"^pings: 3,", result.stdout, re.M)
    result = dwell("--config", str(cfg), "replay", str(GOLDEN_TRACE), "--start",
                   "2026-05-02T07:00", cwd=tmp_path)
    assert re.search(r"^pings: 0$", result.stdout, re.M) and "closed" in result.stdout


def test_speed_paces_the_replay(tmp_path: Path) -> None:
    lines = GOLDEN_TRACE.read_text().splitlines()[:31]  # header + 3 s
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    result = dwell("replay", str(short), "--speed", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start >= 1.5  # 3 s of input at 2x takes at least 1.5 s


def test_plot(tmp_path: Path) -> None:
    png = tmp_path / "day.png"
    result = dwell("--config", str(GOLDEN_CONFIG), "replay", str(GOLDEN_TRACE), "--plot",
                   str(png), cwd=tmp_path)
    if importlib.util.find_spec("matplotlib") is None:
        assert result.returncode == 2 and "pip install" in result.stderr
        assert not png.exists()
    else:
        assert result.returncode == 0, result.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tud_stadtmitte_ground_truth_as_detections(tmp_path: Path) -> None:
    gt = shared_file("footage/TUD-Stadtmitte/gt/gt.txt")
    out = tmp_path / "events.jsonl"
    result = dwell("replay", str(gt), "--fps", "25", "--size", f"{SIZE[0]}x{SIZE[1]}",
                   "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    visits = int(re.search(r"^visits: (\d+)", result.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert 9 <= visits <= 11  # 10 people
    assert out.read_text().count('"visit_end"') == visits


def test_on_ping_seam_sees_every_ping_of_the_file(tmp_path: Path) -> None:
    from edge.config.settings import load_settings
    from edge.offline.replay import replay

    seen: list = []
    out = tmp_path / "events.jsonl"
    summary = replay(GOLDEN_TRACE, load_settings(GOLDEN_CONFIG), out=out, on_ping=seen.append)
    written = [line for line in out.read_text().splitlines() if '"type":"ping"' in line]
    assert [p.id for p in seen] == [p.id for p in summary.pings]
    assert len(seen) == len(written) == 3
    assert all(p.id in line for p, line in zip(seen, written, strict=True))


def test_tud_stadtmitte_the_man_at_the_shop_window_is_the_one_who_lingers(
        tmp_path: Path) -> None:
    """Real people: of the ten on the street, only the man standing at the shop window stays
    within half a box height of one spot for 6 s."""
    gt = shared_file("footage/TUD-Stadtmitte/gt/gt.txt")
    cfg = tmp_path / "short.toml"
    cfg.write_text("[policy]\nspace_window_s = 0\nlinger_s = 6\n\n[[zones]]\n"
                   'name = "shop window"\nkind = "entrance"\n'
                   "polygon = [[0.25, 0.45], [0.4, 0.45], [0.4, 0.6], [0.25, 0.6]]\n")
    out = tmp_path / "events.jsonl"
    result = dwell("--config", str(cfg), "replay", str(gt), "--fps", "25", "--size", "640x480",
                   "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pings = [line for line in out.read_text().splitlines() if '"type":"ping"' in line]
    assert len(pings) == 1
    assert '"reason":"linger"' in pings[0] and '"zone":"shop window"' in pings[0]

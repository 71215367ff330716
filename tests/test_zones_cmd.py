"""`dwell zones --snapshot`: one frame, zones and grid drawn, written only where asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.cli.zones import KIND_COLOURS
from tests.clips import make_video

ZONES = """
[[zones]]
name = "help desk"
kind = "help_point"
polygon = [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]]
"""


def dwell(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_snapshot_draws_zones_and_grid_on_one_frame(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=20)
    (tmp_path / "dwell.toml").write_text(ZONES)
    out = tmp_path / "snap.png"
    before = set(tmp_path.iterdir())
    result = dwell("--config", "dwell.toml", "zones", "--snapshot", str(out), "--source",
                   str(video), "--at", "1.0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(tmp_path.iterdir()) - before == {out}  # nothing else is written
    assert "help_point" in result.stdout and "'help desk'" in result.stdout
    image = cv2.imread(str(out))
    assert image.shape == (240, 320, 3)
    # the zone's outline is drawn in its kind's colour at its top edge (y = 0.5)
    edge = image[round(0.5 * 239), round(0.7 * 319)].astype(int)
    assert np.abs(edge - np.array(KIND_COLOURS["help_point"])).max() < 60
    # the grid: a light line at x = 0.3 over the plain grey background
    column = image[5:235, round(0.3 * 319)].astype(int)
    assert np.median(column) > 150
    # the frame at 1.0 s: the moving block has moved (frame 10 of make_video)
    raw = cv2.VideoCapture(str(video))
    raw.set(cv2.CAP_PROP_POS_FRAMES, 10)
    ok, frame10 = raw.read()
    assert ok
    assert np.abs(image[130, 75:110].astype(int) - frame10[130, 75:110].astype(int)).max() < 40


def test_snapshot_refuses_bad_names_and_sources(tmp_path: Path) -> None:
    bad_ext = dwell("zones", "--snapshot", str(tmp_path / "x.txt"), "--source", "v.mp4",
                    cwd=tmp_path)
    assert bad_ext.returncode == 2 and ".png" in bad_ext.stderr
    missing = dwell("zones", "--snapshot", str(tmp_path / "x.png"), "--source",
                    str(tmp_path / "nope.mp4"), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.mp4" in missing.stderr
    assert not (tmp_path / "x.png").exists()


def test_snapshot_is_private_whatever_the_umask_and_an_old_file(tmp_path: Path) -> None:
    """It may show people: 0600 from creation (no chmod after), also over an older 0644 file."""
    video = make_video(tmp_path / "clip.mp4", frames=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    for name, old in (("new.png", None), ("old.jpg", 0o644)):
        out = tmp_path / name
        if old is not None:
            out.write_bytes(b"old")
            out.chmod(old)
        result = subprocess.run(
            [sys.executable, "-m", "edge.cli", "zones", "--snapshot", str(out), "--source",
             str(video)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            preexec_fn=lambda: os.umask(0))  # a umask that would leave a plain open() 0666
        assert result.returncode == 0, result.stderr
        assert out.stat().st_mode & 0o777 == 0o600, oct(out.stat().st_mode)
        assert cv2.imread(str(out)).shape == (240, 320, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "new.png", "old.jpg"]

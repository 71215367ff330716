"""`dwell config check` checks the world too: the model, state_dir, and (--probe) the source.

The real CLI in a subprocess: exit 0 all fine, 1 a valid config this machine cannot run, 2 an
invalid config (tests/test_cli.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.service.lock import CameraLock
from tests.test_cli import dwell
from tests.test_run_cmd import make_video


def config(tmp_path: Path, state: Path, extra: str = "") -> Path:
    path = tmp_path / "dwell.toml"
    path.write_text(f'state_dir = "{state}"\n{extra}\n[yaw]\nenabled = false\n')
    return path


def check(tmp_path: Path, path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    # no models of the machine's own: only the vendored ones are installed
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    return dwell("config", "check", str(path), *more, cwd=tmp_path, env=env)


def test_all_fine_says_what_it_looked_at(tmp_path: Path) -> None:
    result = check(tmp_path, config(tmp_path, tmp_path / "state"))
    assert result.returncode == 0, result.stderr
    assert "model: ok: detector model 'ssdlite-pedestrian': " in result.stdout
    assert "ssdlite_pedestrian.pb" in result.stdout
    assert f"state_dir {tmp_path / 'state'}: absent, will be created" in result.stdout
    assert not (tmp_path / "state").exists()  # a check creates nothing
    (tmp_path / "state").mkdir()
    result = check(tmp_path, config(tmp_path, tmp_path / "state"))
    assert result.returncode == 0 and "state: writable" in result.stdout
    assert list((tmp_path / "state").iterdir()) == []  # its probe file is gone


def test_a_model_not_installed_names_the_files_and_the_fix(tmp_path: Path) -> None:
    result = check(tmp_path, config(tmp_path, tmp_path / "state",
                                    '[detector]\nmodel = "yolox-nano"'))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "detector model 'yolox-nano' is not installed" in result.stderr
    assert str(tmp_path / "xdg" / "dwell" / "models" / "yolox_nano.onnx") in result.stderr
    assert "`dwell models install yolox-nano`" in result.stderr


def test_a_state_dir_that_cannot_be_written_or_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = check(tmp_path, config(tmp_path, blocker))
    assert result.returncode == 1
    assert f"state_dir {blocker} exists but is not a directory" in result.stderr
    result = check(tmp_path, config(tmp_path, blocker / "state"))
    assert result.returncode == 1
    assert f"state_dir {blocker / 'state'} cannot be created: {blocker} is not a directory" in (
        result.stderr)


def test_probe_reads_a_frame_or_names_the_source(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=5)
    good = check(tmp_path, config(tmp_path, tmp_path / "s", f'[source]\nuri = "{video}"'),
                 "--probe")
    assert good.returncode == 0, good.stderr
    assert f"source '{video}': a 320x240 frame read" in good.stdout
    assert "source" not in check(tmp_path, config(tmp_path, tmp_path / "s",
                                                  f'[source]\nuri = "{video}"')).stdout
    missing = tmp_path / "gone.mp4"
    bad = check(tmp_path, config(tmp_path, tmp_path / "s", f'[source]\nuri = "{missing}"'),
                "--probe")
    assert bad.returncode == 1
    assert f"source '{missing}' does not open: " in bad.stderr and "no such video file" in (
        bad.stderr)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video\xff" * 500)
    bad = check(tmp_path, config(tmp_path, tmp_path / "s", f'[source]\nuri = "{junk}"'),
                "--probe")
    assert bad.returncode == 1 and f"source '{junk}' does not open: " in bad.stderr
    nodev = check(tmp_path, config(tmp_path, tmp_path / "s", '[source]\nuri = "/dev/video97"'),
                  "--probe")
    assert nodev.returncode == 1
    assert "source '/dev/video97' does not open: no such camera device" in nodev.stderr


def test_probe_of_a_camera_a_running_dwell_holds_says_so(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=5)
    path = config(tmp_path, tmp_path / "s", f'[source]\nuri = "{video}"')
    holder = subprocess.Popen(  # another process holds the lock, as a running sensor would
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from edge.service.lock import CameraLock\n"
         "lock = CameraLock(Path(sys.argv[1]), 'shop', 'entrance').acquire()\n"
         "print('held', flush=True)\ntime.sleep(60)", str(tmp_path / "s")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = check(tmp_path, path, "--probe")
        assert result.returncode == 1
        assert "not probed: the camera is locked" in result.stderr
        assert f"pid {holder.pid}" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert CameraLock(tmp_path / "s", "shop", "entrance").acquire().held  # the probe let go
    assert check(tmp_path, path, "--probe").returncode == 0


def test_an_invalid_config_still_exits_2_before_any_world_check(tmp_path: Path) -> None:
    path = config(tmp_path, tmp_path / "state", "[policy]\nlinger_s = -1")
    result = check(tmp_path, path, "--probe")
    assert result.returncode == 2 and "model:" not in result.stdout
    assert "Traceback" not in result.stderr

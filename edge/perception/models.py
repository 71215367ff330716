"""Model files: what dwell knows (the manifest), where they are, and installing them.

The manifest and the models we may redistribute (SSDLite pedestrian, BlazeFace, each with its
licence) are package data in ``edge/perception/data/``, so they travel inside the wheel and a
plain ``pip install`` works from any directory; nothing is looked up relative to a checkout.

Lookup order for a model file: the ``models_dir`` setting (env ``DWELL_MODELS_DIR``), then the
vendored files shipped in the package, then the user data directory
(``$XDG_DATA_HOME/dwell/models``, default ``~/.local/share/dwell/models``, where
``dwell models install`` puts downloads). A file counts only when its sha256 matches the
manifest, so a truncated or tampered copy is never loaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# importlib.resources finds the data wherever the package is installed (site-packages, an
# editable checkout); cv2 needs real files, which every pip install of a wheel gives.
VENDORED_MODELS = Path(str(resources.files("edge.perception") / "data"))
REPO_MODELS = VENDORED_MODELS  # the old name, for callers written before the models moved
MANIFEST = VENDORED_MODELS / "manifest.toml"
DOWNLOAD_TIMEOUT_S = 60


class ModelError(Exception):
    """A model that cannot be found, fetched or verified; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry."""

    name: str
    file: str
    sha256: str
    licence: str
    url: str
    input_size: int
    classes: list[str]
    task: str
    vendored: bool = False
    member: str | None = None  # file inside a downloaded archive (wheel, zip)
    licence_file: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # companion file -> sha256

    def files(self) -> dict[str, str]:
        """Every file this model needs (main file first) with its sha256."""
        return {self.file: self.sha256, **self.extra}


def load_manifest(path: Path = MANIFEST) -> dict[str, ModelSpec]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model manifest: {exc}") from None
    specs = {}
    for name, entry in data.get("models", {}).items():
        try:
            specs[name] = ModelSpec(name=name, **entry)
        except TypeError as exc:
            raise ModelError(f"{path}: [models.{name}]: {exc}") from None
    return specs


def spec(name: str) -> ModelSpec:
    specs = load_manifest()
    if name not in specs:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(specs))}")
    return specs[name]


def user_models_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dwell" / "models"


def search_dirs(models_dir: Path | None = None) -> list[Path]:
    """Where model files are looked for, first match wins."""
    dirs = [Path(models_dir)] if models_dir else []
    return [*dirs, VENDORED_MODELS, user_models_dir()]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _complete_in(folder: Path, model: ModelSpec) -> bool:
    return all((folder / f).is_file() and sha256_of(folder / f) == sha
               for f, sha in model.files().items())


def find_model(name: str, models_dir: Path | None = None) -> Path:
    """The verified main file of model ``name`` (companions sit beside it), or ModelError."""
    model = spec(name)
    dirs = search_dirs(models_dir)
    for folder in dirs:
        if _complete_in(folder, model):
            return folder / model.file
        main = folder / model.file
        if main.is_file() and sha256_of(main) != model.sha256:
            log.warning("%s does not match its sha256 in the manifest; ignored", main)
    raise ModelError(
        f"model {name!r} ({model.file}) is not installed in {', '.join(map(str, dirs))}; "
        f"install it with `dwell models install {name}`"
    )


@dataclass(frozen=True)
class Installed:
    name: str
    path: Path | None  # None: not found anywhere
    sha_ok: bool


def list_installed(models_dir: Path | None = None) -> list[Installed]:
    """Each known model: the first folder holding its file, and whether the checksums match."""
    rows = []
    for model in load_manifest().values():
        found: Installed | None = None
        for folder in search_dirs(models_dir):
            if (folder / model.file).is_file():
                ok = _complete_in(folder, model)
                if ok or found is None:
                    found = Installed(model.name, folder / model.file, ok)
                if ok:
                    break
        rows.append(found or Installed(model.name, None, False))
    return rows


def install(name: str, dest: Path, source_dir: Path | None = None) -> Path:
    """Copy (from ``source_dir``) or download model ``name`` into ``dest``, verified.

    Each file is written to a temporary name in ``dest`` and renamed only after its sha256
    matched, so a failed or tampered install leaves nothing half-written behind.
    """
    model = spec(name)
    dest.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for filename, sha in model.files().items():
            tmp = _stage(model, filename, dest, source_dir)
            staged.append((tmp, dest / filename))
            got = sha256_of(tmp)
            if got != sha:
                where = source_dir / filename if source_dir else model.url
                raise ModelError(f"{where}: sha256 {got} does not match the manifest's {sha} "
                                 f"for {name}; nothing was installed")
        for tmp, final in staged:
            tmp.chmod(0o644)  # mkstemp makes it private; a model is not a secret
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return dest / model.file


def _stage(model: ModelSpec, filename: str, dest: Path, source_dir: Path | None) -> Path:
    """A temporary copy of ``filename`` inside ``dest`` (same file system: atomic rename)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if source_dir is not None:
            _copy_from(source_dir / filename, tmp)
        elif filename != model.file:
            _copy_from(VENDORED_MODELS / filename, tmp)  # companions we generated ship with dwell
        else:
            _download(model, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _copy_from(src: Path, tmp: Path) -> None:
    try:
        shutil.copyfile(src, tmp)
    except OSError as exc:
        raise ModelError(f"{src}: cannot copy: {exc.strerror or exc}") from None


def _download(model: ModelSpec, tmp: Path) -> None:
    log.info("downloading %s from %s", model.name, model.url)
    try:
        with _fetch(model.url) as response, tmp.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        raise ModelError(f"{model.url}: download failed: {exc}") from None
    if model.member:
        _extract_member(tmp, model.member, model.url)


@contextmanager
def _fetch(url: str) -> Iterator[Any]:
    if not url.startswith(("https://", "http://", "file://")):
        raise ModelError(f"{url}: not a downloadable URL")
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        yield response


def _extract_member(archive: Path, member: str, url: str) -> None:
    """Replace the downloaded archive by the one file inside it that is the model."""
    data_tmp = archive.with_suffix(".member")
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, data_tmp.open("wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(data_tmp, archive)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{url}: no {member} inside: {exc}") from None
    finally:
        data_tmp.unlink(missing_ok=True)

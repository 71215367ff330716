"""Inference runtimes for the ONNX person detector: one letterboxed blob in, raw output out.

Every runtime gets the same blob (edge.perception.detector's letterbox) and its output goes
through the same decode and NMS, so runtimes differ only in speed and float rounding.
``opencv`` (cv2.dnn) is the reference: it is always installed. ``onnxruntime`` measured
1.26-1.35x faster here with the same boxes (docs/perception.md) and has Linux aarch64 wheels.

``auto`` measures every installed runtime on this device, once: a few warm-up runs and then
timed runs on a fixed synthetic blob. It keeps only runtimes whose raw output agrees with the
reference's, picks the fastest, logs what it picked and why, and caches the choice in
``state_dir`` keyed by the model file, input size, threads and library versions, so a restart
does not pay for the measurement again and an upgrade measures anew.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.perception.models import ModelError
from edge.vocabulary.types import FloatArray

log = logging.getLogger(__name__)

REFERENCE = "opencv"
RUNTIMES = ("onnxruntime", "opencv", "ncnn")  # every [detector] runtime besides auto
CACHE_FILE = "detector-runtime.json"
WARMUP_RUNS = 3
TIMED_RUNS = 10
# Raw outputs (box offsets, log sizes, probabilities) of a runtime the same as the reference's
# to within float reassociation: measured 4e-5 on the synthetic blob between onnxruntime and
# cv2.dnn; a wrong graph differs by whole units.
AGREE_ATOL = 1e-2


class RuntimeUnavailable(ModelError):
    """A named runtime whose library is not installed (or cannot run this model)."""


class Runtime(Protocol):
    name: str

    def run(self, blob: FloatArray) -> FloatArray:
        """Raw network output for one (1, 3, H, W) float32 blob."""
        ...


def all_cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """[detector] threads when unset: every core but one, which the rest of the pipeline
    keeps while the network runs (edge/service/overlap.py); one on a single core. On 2 cores
    here, one network thread beside the rest did 89 fps where two did 79 (docs/perception.md)."""
    return max(1, all_cores() - 1)


class OpenCvRuntime:
    """cv2.dnn (OpenCV's default engine). Its thread count is process-wide (cv2.setNumThreads)."""

    name = "opencv"

    def __init__(self, model: Path, threads: int, input_size: int) -> None:
        import cv2  # here, not at the top: the CLI imports this module's names without cv2

        cv2.setNumThreads(threads)  # cv2.dnn re-infers shapes for any blob size
        self.net = cv2.dnn.readNetFromONNX(str(model))

    def run(self, blob: FloatArray) -> FloatArray:
        self.net.setInput(blob)
        return np.asarray(self.net.forward(), dtype=np.float32)


class OnnxRuntime:
    """onnxruntime's CPU provider, default graph optimisation, ``threads`` intra-op threads.

    Its worker threads do not spin-wait between frames: on a Pi the motion gate, yaw and the
    tracker run between two inferences and need those cores.
    """

    name = "onnxruntime"

    def __init__(self, model: Path, threads: int, input_size: int) -> None:
        ort = _import_onnxruntime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # warnings about unused initialisers are not ours to fix
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        cpu = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(model), opts, providers=cpu)
        declared = self.session.get_inputs()[0].shape
        if declared[2:] != [input_size, input_size]:  # an export fixed at another size
            from edge.perception.onnxwire import with_input_size

            sized = with_input_size(model.read_bytes(), input_size, input_size)
            self.session = ort.InferenceSession(sized, opts, providers=cpu)
        self.input = self.session.get_inputs()[0].name

    def run(self, blob: FloatArray) -> FloatArray:
        out = self.session.run(None, {self.input: blob})[0]
        return np.asarray(out, dtype=np.float32)


def import_runtime(name: str, how: str,
                   error: type[RuntimeUnavailable] = RuntimeUnavailable) -> Any:
    """The optional runtime module ``name``, or ``error`` saying it is missing and ``how`` to
    get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise error(f"[detector] runtime = \"{name}\" but {name} is not installed ({exc}); "
                    f"{how}") from None


def _import_onnxruntime() -> Any:
    return import_runtime("onnxruntime",
                          "pip install onnxruntime, or set runtime = \"opencv\" or \"auto\"")


def _ncnn(model: Path, threads: int, input_size: int) -> Runtime:
    from edge.perception.ncnn_model import NcnnRuntime

    return NcnnRuntime(model, threads, input_size)


FACTORIES: dict[str, Callable[[Path, int, int], Runtime]] = {
    "opencv": OpenCvRuntime, "onnxruntime": OnnxRuntime, "ncnn": _ncnn}


def available(model: Path | None = None, input_size: int | None = None) -> list[str]:
    """Runtimes installed here, reference first; ncnn only with ``model``'s conversion for
    ``input_size`` beside it (`dwell models install` makes it when pnnx is installed)."""
    names = [REFERENCE]
    for lib in ("onnxruntime", "ncnn"):
        try:
            __import__(lib)
        except ImportError:
            continue
        if lib == "ncnn":
            from edge.perception.ncnn_model import files

            if model is None or input_size is None or not all(
                    f.is_file() for f in files(model, input_size)):
                continue
        names.append(lib)
    return names


def versions() -> dict[str, str]:
    import cv2

    out = {"opencv": cv2.__version__, "numpy": np.__version__}
    for lib in ("onnxruntime", "ncnn"):
        try:
            module = __import__(lib)
        except ImportError:
            continue
        out[lib] = str(getattr(module, "__version__", "?"))
    return out


def make(name: str, model: Path, threads: int, input_size: int) -> Runtime:
    """The runtime ``name`` for ``model`` fed (1, 3, input_size, input_size) blobs;
    RuntimeUnavailable names what is missing."""
    if name not in FACTORIES:
        raise RuntimeUnavailable(f"unknown detector runtime {name!r}; "
                                 f"choose auto or one of {', '.join(RUNTIMES)}")
    return FACTORIES[name](model, threads, input_size)


def synthetic_blob(size: int) -> FloatArray:
    """A fixed, picture-like blob (gradients and blocks): the same on every device."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    image = np.stack([xs * 255 / size, ys * 255 / size, (xs + ys) * 127 / size], axis=0)
    rng = np.random.default_rng(14)
    for x0, y0, w, h in rng.integers(0, size // 2, (12, 4)):
        image[:, y0:y0 + h, x0:x0 + w] = rng.integers(0, 256, (3, 1, 1))
    return np.ascontiguousarray(image[None], dtype=np.float32)


def median_ms(runtime: Runtime, blob: FloatArray, warmup: int = WARMUP_RUNS,
              timed: int = TIMED_RUNS) -> tuple[float, FloatArray]:
    """(median ms of ``timed`` runs after ``warmup`` runs, the output)."""
    out = runtime.run(blob)
    for _ in range(warmup - 1):
        runtime.run(blob)
    ms = []
    for _ in range(timed):
        t0 = time.perf_counter()
        runtime.run(blob)
        ms.append((time.perf_counter() - t0) * 1000)
    return float(np.median(ms)), out


def choose(model: Path, input_size: int, threads: int, state_dir: Path | None) -> str:
    """``auto``: the fastest installed runtime whose output agrees with the reference's.

    Measured once per (model file, input size, threads, library versions, machine); the
    choice is cached in ``state_dir`` (a cache that cannot be written only costs a re-measure
    at the next start).
    """
    key = _cache_key(model, input_size, threads)
    cache = state_dir / CACHE_FILE if state_dir is not None else None
    cached = _read_cache(cache, key)
    if cached is not None:
        log.info("detector runtime %s (auto, measured earlier on this device: %s)",
                 cached["runtime"], cached["why"])
        return str(cached["runtime"])
    name, why = _measure(model, input_size, threads)
    log.info("detector runtime %s (auto: %s)", name, why)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"key": key, "runtime": name, "why": why}, indent=1))
        except OSError as exc:
            log.warning("cannot cache the detector runtime choice in %s: %s", cache, exc)
    return name


def _measure(model: Path, input_size: int, threads: int) -> tuple[str, str]:
    blob = synthetic_blob(input_size)
    ms: dict[str, float] = {}
    ref_out: FloatArray | None = None
    notes = []
    for name in available(model, input_size):  # the reference first
        try:
            runtime = make(name, model, threads, input_size)
            ms_name, out = median_ms(runtime, blob)
        except Exception as exc:  # a runtime that cannot load this model is skipped, said so
            notes.append(f"{name} failed: {exc}")
            continue
        if ref_out is None:
            ref_out = out
        elif out.shape != ref_out.shape or not np.allclose(out, ref_out, atol=AGREE_ATOL):
            notes.append(f"{name} skipped: its output differs from {REFERENCE}'s")
            continue
        ms[name] = ms_name
    if not ms:
        raise RuntimeUnavailable(f"no detector runtime could run {model}: {'; '.join(notes)}")
    best = min(ms, key=lambda n: ms[n])
    timings = ", ".join(f"{n} {v:.1f} ms" for n, v in sorted(ms.items(), key=lambda kv: kv[1]))
    why = (f"median of {TIMED_RUNS} runs on a synthetic {input_size}px blob with {threads} "
           f"thread(s): {timings}") + "".join(f"; {n}" for n in notes)
    return best, why


def _cache_key(model: Path, input_size: int, threads: int) -> dict[str, Any]:
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    return {"model": model.name, "sha256": digest, "input_size": input_size,
            "threads": threads, "machine": platform.machine(), "versions": versions()}


def _read_cache(cache: Path | None, key: dict[str, Any]) -> dict[str, Any] | None:
    if cache is None or not cache.is_file():
        return None
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or data.get("runtime") not in FACTORIES:
        return None
    return data

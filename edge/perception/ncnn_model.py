"""YOLOX on ncnn: the conversion (at `dwell models install` time) and the runtime.

ncnn is the fastest published runtime on Raspberry Pi CPUs (issue 14: Pi 5, YOLO11n, ncnn
88 ms vs ONNX Runtime 168 ms); on x86 it measured 0.69x onnxruntime here. Both ``ncnn`` and
``pnnx`` are optional (``pip install dwell-sensor[ncnn]``; Linux aarch64 wheels exist).

Conversion: ``pnnx yolox_nano.onnx inputshape=[1,3,S,S] fp16=0`` per input size (the ncnn
graph is fixed-size; fp16=0 because pnnx's default fp16 weights moved boxes on 91 of 179 TUD
frames), then YOLOX's Focus layer (four stride-2 slices and a concat, which ncnn's Crop cannot
express: pnnx drops their steps) is cut off the graph: the runtime feeds the network the
space-to-depth of the blob itself. A conversion is installed only when its output equals
onnxruntime's (or cv2.dnn's) on the fixed synthetic blob; measured 5.9e-5 and the same boxes on
all 179 TUD-Stadtmitte frames.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.perception.runtimes import RuntimeUnavailable, import_runtime
from edge.vocabulary.types import FloatArray

SIZES = (416, 320)
FOCUS_LAYERS = 6  # Split + 4 x Tensor.slice + Concat, right after the Input


class NcnnUnavailable(RuntimeUnavailable):
    """ncnn or its converted model is missing, or the conversion failed."""


def files(model: Path, input_size: int) -> tuple[Path, Path]:
    """Where the converted model for ``input_size`` lives, beside the ONNX file."""
    stem = model.with_suffix("")
    return (stem.with_name(f"{stem.name}.{input_size}.ncnn.param"),
            stem.with_name(f"{stem.name}.{input_size}.ncnn.bin"))


def space_to_depth(blob: FloatArray) -> FloatArray:
    """YOLOX's Focus: (1, 3, H, W) -> (12, H/2, W/2), in the export's channel order."""
    x = blob[0]
    return np.ascontiguousarray(np.concatenate(
        [x[:, ::2, ::2], x[:, 1::2, ::2], x[:, ::2, 1::2], x[:, 1::2, 1::2]], axis=0))


def _import_ncnn() -> Any:
    return import_runtime("ncnn", "pip install ncnn pnnx, then `dwell models install "
                          "yolox-nano` converts the model", NcnnUnavailable)


class NcnnRuntime:
    """ncnn, ``threads`` threads, on the model converted for ``input_size``."""

    name = "ncnn"

    def __init__(self, model: Path, threads: int, input_size: int) -> None:
        ncnn = _import_ncnn()
        param, weights = files(model, input_size)
        if not (param.is_file() and weights.is_file()):
            raise NcnnUnavailable(
                f"{param}: no ncnn conversion of {model.name} for input {input_size}; with pnnx "
                "installed (pip install pnnx), `dwell models install yolox-nano` makes it")
        self._ncnn = ncnn
        self.net = _fp32_net(ncnn, threads)
        if self.net.load_param(str(param)) or self.net.load_model(str(weights)):
            raise NcnnUnavailable(f"{param}: ncnn cannot load it; reinstall yolox-nano")

    def run(self, blob: FloatArray) -> FloatArray:
        focus = space_to_depth(blob)  # ncnn.Mat borrows this memory: keep it alive
        ex = self.net.create_extractor()
        ex.input("in0", self._ncnn.Mat(focus))
        ret, out = ex.extract("out0")
        if ret:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        return np.asarray(out, dtype=np.float32)[None]


def pnnx_command() -> str | None:
    """The pnnx executable of this Python's environment (or on PATH), None if absent."""
    here = Path(sys.executable).parent / "pnnx"
    return str(here) if here.is_file() else shutil.which("pnnx")


def convert(model: Path, input_size: int) -> tuple[Path, Path]:
    """Convert ``model`` (YOLOX ONNX) for ``input_size`` beside it; NcnnUnavailable says why
    not. Written under temporary names, renamed only once the result was verified."""
    pnnx = pnnx_command()
    if pnnx is None:
        raise NcnnUnavailable("pnnx is not installed (pip install pnnx): no ncnn conversion")
    param, weights = files(model, input_size)
    with tempfile.TemporaryDirectory(prefix="dwell-pnnx-") as tmp:
        src = Path(tmp) / model.name
        from edge.perception.onnxwire import with_input_size

        # the export declares 416x416: pnnx traces at the declared size
        src.write_bytes(with_input_size(model.read_bytes(), input_size, input_size))
        done = subprocess.run([pnnx, str(src), f"inputshape=[1,3,{input_size},{input_size}]",
                               "fp16=0"], cwd=tmp, capture_output=True, text=True, timeout=600)
        out_param = src.with_suffix(".ncnn.param")
        out_bin = src.with_suffix(".ncnn.bin")
        if done.returncode != 0 or not out_param.is_file():
            raise NcnnUnavailable(f"pnnx could not convert {model.name}: "
                                  f"{(done.stderr or done.stdout).strip()[-300:]}")
        out_param.write_text(without_focus(out_param.read_text()))
        tmp_param, tmp_bin = (param.with_name(f".{param.name}.part"),
                              weights.with_name(f".{weights.name}.part"))
        shutil.copyfile(out_param, tmp_param)
        shutil.copyfile(out_bin, tmp_bin)
    try:
        _verify(model, input_size, tmp_param, tmp_bin)
        os.replace(tmp_param, param)
        os.replace(tmp_bin, weights)
    finally:
        tmp_param.unlink(missing_ok=True)
        tmp_bin.unlink(missing_ok=True)
    return param, weights


def _fp32_net(ncnn: Any, threads: int) -> Any:
    """An ncnn net computing in fp32 throughout. ncnn stores and computes in fp16 wherever the
    CPU can (ARMv8.2 and later: a Pi 5, not a Pi 4); measured under qemu-aarch64
    (bench/arm64_check.sh) the converted YOLOX's output then differed from onnxruntime's by
    up to 1.6, so the conversion was refused. fp32 is what equals the reference everywhere."""
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    return net


def without_focus(param: str) -> str:
    """The ncnn .param text with the Focus layers replaced by an input of their output."""
    lines = param.splitlines()
    magic, counts, body = lines[0], lines[1].split(), lines[2:]
    head = [line.split() for line in body[:1 + FOCUS_LAYERS]]
    kinds = [f[0] for f in head]
    if kinds != ["Input", "Split", *["Tensor.slice"] * 4, "Concat"]:
        raise NcnnUnavailable(f"unexpected start of the converted graph: {kinds}; "
                              "not the YOLOX Focus layer this conversion knows")
    concat = head[-1]
    focus_out = concat[4 + int(concat[2])]  # the Concat's one output blob
    rest = [line.split() for line in body[1 + FOCUS_LAYERS:]]
    for fields in rest:
        n_in, n_out = int(fields[2]), int(fields[3])
        blobs = fields[4:4 + n_in + n_out]
        fields[4:4 + n_in + n_out] = ["in0" if b == focus_out else b for b in blobs]
    # gone: the old input, the Split's 4 outputs, the 4 slices'; the Concat's is now in0
    out = [magic, f"{len(rest) + 1} {int(counts[1]) - 9}",
           "Input in0 0 1 in0", *(" ".join(f) for f in rest)]
    return "\n".join(out) + "\n"


def _verify(model: Path, input_size: int, param: Path, weights: Path) -> None:
    from edge.perception import runtimes

    ncnn = _import_ncnn()
    net = _fp32_net(ncnn, 1)
    if net.load_param(str(param)) or net.load_model(str(weights)):
        raise NcnnUnavailable(f"{model.name}: ncnn cannot load its own conversion")
    blob = runtimes.synthetic_blob(input_size)
    focus = space_to_depth(blob)  # ncnn.Mat borrows this memory: keep it alive
    ex = net.create_extractor()
    ex.input("in0", ncnn.Mat(focus))
    _, out = ex.extract("out0")
    mine = np.asarray(out, dtype=np.float32)[None]
    ref_name = "onnxruntime" if "onnxruntime" in runtimes.available() else runtimes.REFERENCE
    ref = runtimes.make(ref_name, model, 1, input_size).run(blob)
    if mine.shape != ref.shape or not np.allclose(mine, ref, atol=runtimes.AGREE_ATOL):
        diff = np.abs(mine - ref).max() if mine.shape == ref.shape else mine.shape
        raise NcnnUnavailable(f"{model.name}: the ncnn conversion's output differs from "
                              f"{ref_name}'s ({diff}); not installed")

"""Person detectors: YOLOX (ONNX, on any runtime of edge.perception.runtimes) and SSDLite
(TensorFlow frozen graph, cv2.dnn only).

Both return :class:`Detections` in the input image's pixels. YOLOX's pre-processing
(``letterbox``) and post-processing (``decode``: grid decode, clip, NMS) are one shared pair of
functions; a runtime only turns the blob into raw output. Only the cv2 API that OpenCV 4.11
and 5.x share is used; where 5.x adds an ``engine`` argument it is passed only when present.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.perception import runtimes
from edge.perception.models import find_model
from edge.perception.runtimes import Runtime, RuntimeUnavailable
from edge.vocabulary.types import Detections, FloatArray

if TYPE_CHECKING:
    from edge.config.sections import DetectorConfig
    from edge.vocabulary.interfaces import Detector

log = logging.getLogger(__name__)

YOLOX_STRIDES = (8, 16, 32)
PAD_VALUE = 114  # YOLOX was trained with grey letterbox borders


def _nms(xyxy: FloatArray, score: FloatArray, score_threshold: float,
         nms_iou: float) -> Detections:
    """Keep the best box of each overlapping group (cv2.dnn.NMSBoxes, as in 4.x and 5.x)."""
    keep = score >= score_threshold
    xyxy, score = xyxy[keep], score[keep]
    if len(score) == 0:
        return Detections.empty()
    xywh = xyxy.copy()
    xywh[:, 2:] -= xywh[:, :2]
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), score_threshold, nms_iou)
    idx = np.asarray(kept, dtype=np.intp).reshape(-1)  # 4.x once returned (N, 1)
    return Detections(xyxy[idx], score[idx])


def _clip(xyxy: FloatArray, width: int, height: int) -> FloatArray:
    np.clip(xyxy[:, 0::2], 0, width, out=xyxy[:, 0::2])
    np.clip(xyxy[:, 1::2], 0, height, out=xyxy[:, 1::2])
    return xyxy


class YoloxDetector:
    """YOLOX-nano (COCO-80 head); keeps class 0, person.

    ``input_size`` 416 finds smaller, more distant people; 320 is ~1.7x faster. ``runtime``
    is a name of edge.perception.runtimes (or a Runtime already built); ``threads`` its
    intra-op threads.
    """

    def __init__(self, model: Path, input_size: int = 416, score_threshold: float = 0.4,
                 nms_iou: float = 0.45, *, runtime: str | Runtime = "opencv",
                 threads: int = 1) -> None:
        if isinstance(runtime, str):
            runtime = runtimes.make(runtime, model, threads, input_size)
        self.runtime = runtime
        self.size = input_size
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self._grid, self._stride = _grids(input_size)
        self._canvas = np.full((input_size, input_size, 3), PAD_VALUE, np.uint8)

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        blob, ratio = self.prepare(image)
        return self.decode(self.infer(blob), ratio, image.shape[1], image.shape[0])

    # detect = decode(infer(prepare(image))), split so that a caller can run only ``infer``
    # (the network: no Python lock held) on another thread and keep the rest, which is Python
    # and numpy, on its own (edge/service/overlap.py).

    def prepare(self, image: npt.NDArray[np.uint8]) -> tuple[FloatArray, float]:
        """(the network's input blob, a new array; the scale to map boxes back)."""
        return letterbox(image, self._canvas)

    def infer(self, blob: FloatArray) -> FloatArray:
        return self.runtime.run(blob)

    def decode(self, raw: FloatArray, ratio: float, width: int, height: int) -> Detections:
        """People from the raw (1, anchors, 85) output: the same for every runtime."""
        out = np.asarray(raw, dtype=np.float32).reshape(-1, 85)
        if len(out) != len(self._grid):
            raise RuntimeError(f"YOLOX output has {len(out)} anchors, expected "
                               f"{len(self._grid)} for input {self.size}")
        score = out[:, 4] * out[:, 5]  # objectness x person probability
        cand = score >= self.score_threshold
        out, score = out[cand], score[cand]
        centre = (out[:, :2] + self._grid[cand]) * self._stride[cand]
        half = np.exp(out[:, 2:4]) * self._stride[cand] / 2
        xyxy = np.concatenate([centre - half, centre + half], axis=1) / ratio
        return _nms(_clip(xyxy.astype(np.float32), width, height), score,
                    self.score_threshold, self.nms_iou)


def letterbox(image: npt.NDArray[np.uint8],
              canvas: npt.NDArray[np.uint8]) -> tuple[FloatArray, float]:
    """(the (1, 3, S, S) float32 blob, the scale): ``image`` fitted top-left into the square
    ``canvas`` (grey borders), as YOLOX's own pre-processing does: boxes map back by / scale."""
    size = canvas.shape[0]
    h, w = image.shape[:2]
    ratio = min(size / h, size / w)
    nh, nw = round(h * ratio), round(w * ratio)
    canvas[...] = PAD_VALUE
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = cv2.dnn.blobFromImage(canvas)  # BGR, 0..255, no mean: as exported
    return np.asarray(blob, dtype=np.float32), ratio


def _grids(size: int) -> tuple[FloatArray, FloatArray]:
    grids, strides = [], []
    for stride in YOLOX_STRIDES:
        n = size // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((n * n, 1), stride))
    return (np.concatenate(grids).astype(np.float32),
            np.concatenate(strides).astype(np.float32))


class SsdDetector:
    """SSDLite-MobileNetV2 pedestrian graph (one class), 300x300, preprocessing in the graph."""

    SIZE = 300

    def __init__(self, model: Path, text_graph: Path, score_threshold: float = 0.4,
                 nms_iou: float = 0.45) -> None:
        if not text_graph.is_file():
            raise FileNotFoundError(f"{text_graph}: the text graph must sit beside {model.name}")
        self.net = cv2.dnn.readNetFromTensorflow(str(model), str(text_graph), **_classic())
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, 1.0, (self.SIZE, self.SIZE), swapRB=True)
        self.net.setInput(blob)
        out = np.asarray(self.net.forward(), dtype=np.float32).reshape(-1, 7)
        out = out[(out[:, 1] == 1) & (out[:, 2] >= self.score_threshold)]
        xyxy = out[:, 3:7] * np.array([w, h, w, h], np.float32)
        # The graph's DetectionOutput already ran NMS at 0.6; ours applies the configured IoU.
        return _nms(_clip(xyxy, w, h), out[:, 2].copy(), self.score_threshold, self.nms_iou)


def _classic() -> dict[str, Any]:
    """OpenCV 5's new engine cannot run the SSD text graph (argTensor assertion); 4.x has one."""
    engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
    return {} if engine is None else {"engine": engine}


def load_detector(cfg: DetectorConfig, models_dir: Path | None = None,
                  state_dir: Path | None = None) -> Detector:
    """The configured person detector, its model found via edge.perception.models (ModelError
    if absent; RuntimeUnavailable if the named runtime is not installed). ``state_dir`` keeps
    the ``auto`` runtime's measured choice."""
    threads = cfg.threads or runtimes.default_threads()
    cv2.setNumThreads(threads)
    path = find_model(cfg.model, models_dir)
    if cfg.model == "yolox-nano":
        name: str = cfg.runtime
        if name == "auto":
            name = runtimes.choose(path, cfg.input_size, threads, state_dir)
        log.info("person detector yolox-nano@%d on %s, %d thread(s)", cfg.input_size, name,
                 threads)
        return YoloxDetector(path, cfg.input_size, cfg.score_threshold, cfg.nms_iou,
                             runtime=name, threads=threads)
    if cfg.runtime not in ("auto", "opencv"):
        raise RuntimeUnavailable(f"[detector] runtime = {cfg.runtime!r}: {cfg.model} is a "
                                 "TensorFlow graph that only cv2.dnn runs; use \"opencv\" or "
                                 "\"auto\"")
    return SsdDetector(path, path.with_suffix(".pbtxt"), cfg.score_threshold, cfg.nms_iou)

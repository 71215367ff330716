"""Run a peer tracker (supervision's ByteTrack, norfair, boxmot) on detections given as JSON.

Runs in a side venv, never in dwell's: supervision==0.30.9 (the last with ByteTrack) and
norfair (which needs numpy < 2, unlike OpenCV 5) are dev-only comparisons. It imports nothing
from dwell. stdin: {"tracker": "bytetrack"|"norfair"|"boxmot", "fps": F, "params": {...},
"runs": [[[[x1, y1, x2, y2, score], ...], ...], ...]} (runs of frames). stdout: {"runs":
[[[[id, x1, y1, x2, y2], ...], ...], ...], "us_per_frame": U} listing only the people matched
to a detection in each frame; U is the least of the runs' means.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np


def run_bytetrack(frames: list[list[list[float]]], fps: float,
                  params: dict[str, Any]) -> tuple[list[list[list[float]]], float]:
    import supervision as sv

    tracker = sv.ByteTrack(frame_rate=round(fps), **params)
    out, spent = [], 0.0
    for boxes in frames:
        arr = np.asarray(boxes, np.float32).reshape(-1, 5)
        dets = sv.Detections(xyxy=arr[:, :4], confidence=arr[:, 4],
                             class_id=np.zeros(len(arr), int))
        t0 = time.perf_counter()
        tracked = tracker.update_with_detections(dets)
        spent += time.perf_counter() - t0
        out.append([[int(i), *map(float, b)] for i, b in zip(tracked.tracker_id, tracked.xyxy,
                                                              strict=True)])
    return out, spent / max(len(frames), 1) * 1e6


def run_norfair(frames: list[list[list[float]]], fps: float,
                params: dict[str, Any]) -> tuple[list[list[list[float]]], float]:
    from norfair import Detection, Tracker

    params = dict(params)
    min_score = params.pop("min_score", 0.0)
    tracker = Tracker(distance_function="iou", **params)
    out, spent = [], 0.0
    for boxes in frames:
        kept = [b for b in boxes if b[4] >= min_score]
        dets = [Detection(points=np.array([[b[0], b[1]], [b[2], b[3]]]),
                          scores=np.array([b[4], b[4]])) for b in kept]
        t0 = time.perf_counter()
        objects = tracker.update(detections=dets)
        spent += time.perf_counter() - t0
        now = {id(d) for d in dets}
        out.append([[int(o.id), *map(float, o.last_detection.points.reshape(-1))]
                    for o in objects if o.id is not None and id(o.last_detection) in now])
    return out, spent / max(len(frames), 1) * 1e6


def run_boxmot(frames: list[list[list[float]]], fps: float,
               params: dict[str, Any]) -> tuple[list[list[list[float]]], float]:
    """boxmot's OC-SORT, BoT-SORT or DeepOCSORT on boxes only: no embeddings (ReID weights are
    downloaded at run time), no camera-motion compensation (it needs the pixels)."""
    import boxmot

    params = dict(params)
    kind = params.pop("kind")
    if kind == "ocsort":
        tracker = boxmot.OcSort(**params)
    elif kind == "botsort":
        tracker = boxmot.BotSort(use_embeddings=False, use_cmc=False, frame_rate=round(fps),
                                 **params)
    else:
        tracker = boxmot.DeepOcSort(use_embeddings=False, cmc_off=True, **params)
    image = np.zeros((480, 640, 3), np.uint8)  # never looked at without ReID and CMC
    out, spent = [], 0.0
    for boxes in frames:
        arr = np.asarray(boxes, np.float32).reshape(-1, 5)
        dets = np.concatenate([arr, np.zeros((len(arr), 1), np.float32)], axis=1)
        t0 = time.perf_counter()
        tracked = tracker.update(dets, image)
        spent += time.perf_counter() - t0
        out.append([[int(r[4]), *map(float, r[:4])] for r in np.asarray(tracked).reshape(-1, 8)])
    return out, spent / max(len(frames), 1) * 1e6


def motmetrics_scores(job: dict[str, Any]) -> dict[str, list[float]]:
    """IDF1 and ID switches by motmetrics 1.4 (needs numpy < 2) for a cross-check of ours.

    job: {"gt": [[[id, x1, y1, x2, y2], ...] per frame], "runs": [same for predictions, ...]}.
    """
    import motmetrics as mm

    def xywh(rows: list[list[float]]) -> np.ndarray:
        a = np.asarray(rows, float).reshape(-1, 5)[:, 1:]
        a[:, 2:] -= a[:, :2]
        return a

    idf1, switches = [], []
    for pred in job["runs"]:
        acc = mm.MOTAccumulator(auto_id=True)
        for g, p in zip(job["gt"], pred, strict=True):
            dist = mm.distances.iou_matrix(xywh(g), xywh(p), max_iou=0.5)
            acc.update([r[0] for r in g], [r[0] for r in p], dist)
        summary = mm.metrics.create().compute(acc, metrics=["idf1", "num_switches"])
        idf1.append(float(summary["idf1"].iloc[0]))
        switches.append(float(summary["num_switches"].iloc[0]))
    return {"idf1": idf1, "switches": switches}


def main() -> None:
    job = json.load(sys.stdin)
    if job["tracker"] == "motmetrics":
        json.dump(motmetrics_scores(job), sys.stdout)
        return
    run = {"bytetrack": run_bytetrack, "norfair": run_norfair,
           "boxmot": run_boxmot}[job["tracker"]]
    runs, spent = [], []
    for frames in job["runs"]:  # one fresh tracker per run
        out, us = run(frames, float(job["fps"]), job.get("params", {}))
        runs.append(out)
        spent.append(us)
    json.dump({"runs": runs, "us_per_frame": min(spent)}, sys.stdout)


if __name__ == "__main__":
    main()

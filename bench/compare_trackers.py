"""Compare dwell's tracker and visit layer with ByteTrack, norfair and boxmot on one input.

    .venv/bin/python bench/compare_trackers.py [--peers-python P] [--norfair-python P]
        [--boxmot-python P]

For TUD-Stadtmitte and TUD-Campus (../shared/footage, or $DWELL_SHARED/footage), three sets
of detections:

- "gt": the ground-truth boxes themselves;
- "gt-miss": the ground truth degraded like a detector, 8 seeds summed (IDF1 averaged): each
  person drops out in bursts of 1-12 frames (~15% of frames), corners jitter by 3% of the box
  size, 15% of boxes score 0.3-0.55 (doubtful), the rest 0.6-0.95. Two short clips give too
  few events to tell trackers apart; this gives ~16x more;
- "yolox": YOLOX-nano@416 run on the video by dwell's own detector (score >= 0.1, cached as
  MOT det.txt under --cache; boxes only, no pixels);
- "gt+look", "yolox+look": the same boxes with the appearance cue that `dwell run` adds
  (edge/perception/appearance.py, computed here from the video's pictures, clear views among
  the boxes dwell's detector keeps); only dwell uses it. Without "+look" is what a replay of
  a trace decides.
Every tracker sees the same detections; scores are over the people matched to a detection in
each frame (coasting predictions excluded, for every tracker alike):

- IDF1 and ID switches (edge.offline.metrics, our own code: motmetrics 1.4 breaks on numpy 2);
- visits/person: ids lasting >= visit_min_s (0.5 s) per ground-truth person present as long
  (1.00 is ideal; more means visits were split, each split restarting someone's dwell clock),
  and how many people were split;
- handed over: lasting ids that followed two people for >= 0.25 s each (the second person
  inherits the first one's dwell);
- swaps: pairs of ids that exchanged their people (a crossing), each side held >= 0.4 s
  (edge.offline.metrics.swaps);
- wrong joins (visit layer only): tracks joined into a visit owned by another person;
- dwell error: mean |dwell of a person's longest visit - their presence| in seconds;
- µs per frame of the update alone (for "dwell visits": tracker + visit layer).

"dwell tracker" are the tracker's own ids (what visits were before the visit layer); "dwell
visits" are the visitor ids that behaviour and the events carry (edge/behaviour/visits.py).

Peers run in side venvs as subprocesses (bench/peer_trackers.py, JSON in and out), because they
are dev-only and norfair needs numpy < 2:

    python3 -m venv /tmp/venv-peers && /tmp/venv-peers/bin/pip install supervision==0.30.9
    python3 -m venv /tmp/venv-norfair && /tmp/venv-norfair/bin/pip install "numpy<2" norfair
    python3.11 -m venv /tmp/venv-boxmot && /tmp/venv-boxmot/bin/pip install torch==2.14.1 boxmot

boxmot's OC-SORT, BoT-SORT and DeepOCSORT run without embeddings (their ReID weights are
downloaded at run time, which cannot be done here) and without camera-motion compensation.

Each peer runs with its defaults and with a 3 s memory (dwell's occlusion_grace_s), so the
comparison is not only about a shorter default grace. A missing venv skips that peer, saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.behaviour.tracker import IouTracker  # noqa: E402
from edge.behaviour.visits import Visits  # noqa: E402
from edge.behaviour.zones import ZoneMap  # noqa: E402
from edge.config.sections import BehaviourConfig, TrackerConfig  # noqa: E402
from edge.offline.metrics import (  # noqa: E402
    dwell_errors,
    idf1_and_switches,
    provisional_in_hindsight,
    swaps,
    visits_per_person,
    wrong_joins,
)
from edge.offline.mot import read_mot_detections, read_mot_ground_truth  # noqa: E402

SEQUENCES = ("TUD-Stadtmitte", "TUD-Campus")
FPS, SIZE = 25.0, (640, 480)
SEEDS = 8  # runs of the degraded ground truth
YOLOX_MIN_SCORE = 0.1  # cache low scores too: ByteTrack's second stage (and ours) use them
DWELL_DETECTOR_SCORE = 0.4  # what dwell's detector keeps by default (detector.score_threshold)

Frames = list[list[list[float]]]  # per frame: [x1, y1, x2, y2, score] or [id, x1, y1, x2, y2]


@dataclass
class Row:
    sequence: str
    detections: str
    tracker: str
    idf1: float
    switches: int
    visits: int
    people: int
    split: int
    handed: int
    us: float
    dwell_err: float = float("nan")
    joins_wrong: int | None = None
    swapped: int = 0


def shared_dir() -> Path:
    return Path(os.environ.get("DWELL_SHARED", REPO.parent / "shared"))


def yolox_detections(video: Path, cache: Path) -> Path:
    """MOT det.txt of YOLOX-nano@416 on ``video`` (score >= 0.1), computed once."""
    out = cache / f"{video.stem}-yolox416.txt"
    if out.exists():
        return out
    from edge.config.sections import SourceConfig
    from edge.perception.detector import YoloxDetector
    from edge.perception.sources import open_source

    model = Path(os.environ.get("DWELL_MODELS_DIR", shared_dir() / "models")) / "yolox_nano.onnx"
    if not model.exists():
        raise SystemExit(f"{model} is absent: cannot make YOLOX detections")
    detector = YoloxDetector(model, 416, score_threshold=YOLOX_MIN_SCORE)
    source = open_source(str(video), SourceConfig(uri=str(video)))
    lines = []
    for frame in source.frames():
        dets = detector.detect(frame.image)
        for (x, y, w, h), s in zip(dets.xywh.tolist(), dets.score.tolist(), strict=True):
            lines.append(f"{frame.index + 1},-1,{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},-1,-1,-1")
    source.close()
    cache.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def frame_looks(video: Path, frames: Frames) -> list[np.ndarray]:
    """Each frame's appearance cue for its boxes, from the video's pictures (as perception
    computes it live: clear views among the boxes dwell's detector keeps)."""
    import cv2

    from edge.perception.appearance import LOOK_BINS, torso_looks

    capture, out = cv2.VideoCapture(str(video)), []
    for rows in frames:
        ok, image = capture.read()
        if not ok:
            raise SystemExit(f"{video} has fewer frames than its detections")
        a = np.asarray(rows, np.float32).reshape(-1, 5)
        kept = a[:, 4] >= DWELL_DETECTOR_SCORE
        look = np.full((len(a), LOOK_BINS), np.nan, np.float32)
        look[kept] = torso_looks(image, a[kept, :4])
        out.append(look)
    capture.release()
    return out


def load_frames(path: Path) -> Frames:
    return [np.concatenate([d.xyxy, d.score[:, None]], axis=1).tolist()
            for _, d in read_mot_detections(path, FPS)]


def degrade(gt: dict, n_frames: int, seed: int) -> Frames:
    """Ground truth as a detector might see it: bursts of misses, jitter, doubtful scores."""
    rng = np.random.default_rng(seed)
    ids = sorted({int(i) for ids, _ in gt.values() for i in ids})
    hidden = {i: np.zeros(n_frames + 14, bool) for i in ids}
    for i in ids:
        frame = 1
        while frame <= n_frames:
            if rng.random() < 0.15 / 6:  # a burst averages 6 frames: ~15% of frames missed
                length = int(rng.integers(1, 13))
                hidden[i][frame:frame + length] = True
                frame += length
            frame += 1
    frames = []
    for frame in range(1, n_frames + 1):
        g_ids, boxes = gt.get(frame, (np.zeros(0, int), np.zeros((0, 4))))
        keep = np.array([not hidden[int(i)][frame] for i in g_ids], bool)
        b = boxes[keep].astype(np.float64) if len(g_ids) else np.zeros((0, 4))
        wh = b[:, 2:] - b[:, :2]
        b = b + rng.normal(0, 0.03, b.shape) * np.concatenate([wh, wh], axis=1)
        doubtful = rng.random(len(b)) < 0.15
        score = np.where(doubtful, rng.uniform(0.3, 0.55, len(b)),
                         rng.uniform(0.6, 0.95, len(b)))
        frames.append(np.concatenate([b, score[:, None]], axis=1).tolist())
    return frames


def detections_of(frames: Frames, looks: list[np.ndarray] | None) -> list:
    from edge.vocabulary.types import Detections

    arrays = [np.asarray(f, np.float32).reshape(-1, 5) for f in frames]
    return [Detections(a[:, :4], a[:, 4], look=None if looks is None else looks[k])
            for k, a in enumerate(arrays)]


def run_ours(runs: list[Frames], cfg: TrackerConfig,
             looks: list[np.ndarray] | None = None) -> tuple[list[Frames], float]:
    outs, best = [], float("inf")
    for frames in runs:
        dets = detections_of(frames, looks)
        for _ in range(3):  # the machine is shared: keep the least disturbed of three runs
            tracker = IouTracker(cfg, frame_size=SIZE)
            t0 = time.perf_counter()
            results = [tracker.update(d, k / FPS) for k, d in enumerate(dets)]
            best = min(best, (time.perf_counter() - t0) / len(dets) * 1e6)
        outs.append([[[int(i), *b] for i, b in zip(t.ids[t.matched].tolist(),
                                                    t.xyxy[t.matched].tolist(), strict=True)]
                     for t in results])
    return outs, best


def run_visits(runs: list[Frames], cfg: TrackerConfig, looks: list[np.ndarray] | None = None
               ) -> tuple[list[Frames], list[Frames], list[dict[int, int]], float, float]:
    """Tracker + visit layer: visitor-id frames, track-id frames, track -> visitor, µs per
    frame of both together and of the visit layer alone."""
    outs, tid_outs, maps = [], [], []
    best, best_layer = float("inf"), float("inf")
    for frames in runs:
        dets = detections_of(frames, looks)
        for _ in range(3):
            tracker = IouTracker(cfg, frame_size=SIZE)
            visits = Visits(BehaviourConfig(), ZoneMap([], SIZE), SIZE)
            spent_layer, seen = 0.0, []
            t0 = time.perf_counter()
            for k, d in enumerate(dets):
                tracks = tracker.update(d, k / FPS)
                t1 = time.perf_counter()
                people = visits.update(tracks, k / FPS)
                visits.visiting(people)  # what behaviour gets, as in the pipeline
                spent_layer += time.perf_counter() - t1
                rows = []
                for vid, box in zip(people.ids[people.matched].tolist(),
                                    people.xyxy[people.matched].tolist(), strict=True):
                    # provisional visitors (held back, negative id) are their track
                    rows.append([vid, visits.visitors[vid].track if vid > 0 else -vid, *box])
                seen.append(rows)
            best = min(best, (time.perf_counter() - t0) / len(dets) * 1e6)
            best_layer = min(best_layer, spent_layer / len(dets) * 1e6)
        # a provisional visitor (a track held back, negative id) is, in hindsight, the
        # visitor its track became; events never name provisional ids
        became = provisional_in_hindsight([[(r[0], r[1]) for r in f] for f in seen])
        outs.append([[[vid, *r[2:]] for vid, r in zip(ids, f, strict=True)]
                     for ids, f in zip(became, seen, strict=True)])
        # joins are scored per (track, visitor) segment: a tracker id that the tracker itself
        # moved on to someone else, who became a new visitor, is not a join
        segments: dict[tuple[int, int], int] = {}
        tid_outs.append([[[segments.setdefault((r[1], vid), len(segments) + 1), *r[2:]]
                          for vid, r in zip(ids, f, strict=True) if r[1] is not None]
                         for ids, f in zip(became, seen, strict=True)])
        maps.append({seg: key[1] for key, seg in segments.items()})
    return outs, tid_outs, maps, best, best_layer


def run_peer(python: str, tracker: str, runs: list[Frames], params: dict[str, object]
             ) -> tuple[list[Frames], float] | None:
    if not Path(python).exists():
        print(f"# {tracker}: {python} is absent, skipped (see the docstring)", file=sys.stderr)
        return None
    job = json.dumps({"tracker": tracker, "fps": FPS, "params": params, "runs": runs})
    proc = subprocess.run([python, str(REPO / "bench" / "peer_trackers.py")], input=job,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{tracker} failed:\n{proc.stderr}")
    answer = json.loads(proc.stdout)
    return answer["runs"], answer["us_per_frame"]


def as_pred(out: Frames) -> dict:
    return {k + 1: ([r[0] for r in f], [r[1:] for r in f]) for k, f in enumerate(out)}


def score(seq: str, dets: str, name: str, gt: dict, outs: list[Frames], us: float,
          joins: tuple[list[Frames], list[dict[int, int]]] | None = None) -> Row:
    """Scores summed over the runs (IDF1 and dwell error averaged)."""
    idf1, switches, visits, people, split, handed, err, wrong = 0.0, 0, 0, 0, 0, 0, 0.0, 0
    swapped = 0
    min_s = BehaviourConfig().visit_min_s
    for k, out in enumerate(outs):
        pred = as_pred(out)
        ids = idf1_and_switches(gt, pred)
        v = visits_per_person(gt, pred, FPS, min_s=min_s)
        idf1 += ids.idf1 / len(outs)
        err += dwell_errors(gt, pred, FPS, min_s=min_s).mean_error_s / len(outs)
        switches += ids.id_switches
        visits, people = visits + v.visits, people + v.people
        split, handed = split + v.split_people, handed + v.handed_over
        swapped += swaps(gt, pred, FPS)
        if joins is not None:
            wrong += wrong_joins(gt, as_pred(joins[0][k]), joins[1][k])
    return Row(seq, dets, name, idf1, switches, visits, people, split, handed, us, err,
               wrong if joins is not None else None, swapped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers-python", default="/tmp/venv-peers/bin/python")
    parser.add_argument("--norfair-python", default="/tmp/venv-norfair/bin/python")
    parser.add_argument("--boxmot-python", default="/tmp/venv-boxmot/bin/python")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/dwell-dets"))
    parser.add_argument("--no-yolox", action="store_true", help="ground-truth boxes only")
    parser.add_argument("--speed-only", action="store_true",
                        help="only time dwell's tracker on 5 synthetic walkers")
    parser.add_argument("--crosscheck", action="store_true",
                        help="also score dwell's tracks with motmetrics 1.4 (in the norfair "
                        "venv: pip install motmetrics==1.4.0 'pandas<2.3' 'numpy<2') and "
                        "print both, to check edge/offline/metrics.py")
    args = parser.parse_args()
    print_speed()
    if args.speed_only:
        return

    grace_frames = round(TrackerConfig().occlusion_grace_s * FPS)
    peers = [
        ("bytetrack", args.peers_python, "ByteTrack (defaults)", {}),
        ("bytetrack", args.peers_python, "ByteTrack (3 s buffer)",
         {"lost_track_buffer": grace_frames}),
        ("norfair", args.norfair_python, "norfair (defaults)",
         {"distance_threshold": 0.7, "min_score": DWELL_DETECTOR_SCORE}),
        ("norfair", args.norfair_python, "norfair (3 s memory)",
         {"distance_threshold": 0.7, "min_score": DWELL_DETECTOR_SCORE,
          "hit_counter_max": grace_frames, "initialization_delay": 1}),
        ("boxmot", args.boxmot_python, "boxmot OC-SORT", {"kind": "ocsort"}),
        ("boxmot", args.boxmot_python, "boxmot BoT-SORT (no ReID)", {"kind": "botsort"}),
        ("boxmot", args.boxmot_python, "boxmot DeepOCSORT (no emb)", {"kind": "deepocsort"}),
    ]
    rows = []
    for seq in SEQUENCES:
        rows += bench_sequence(seq, args, peers)
    print_table(rows)


def bench_sequence(seq: str, args: argparse.Namespace, peers: list) -> list[Row]:
    """Every detection set of one clip through dwell (tracker, visits) and the peers."""
    folder = shared_dir() / "footage" / seq
    gt_path = folder / "gt" / "gt.txt"
    if not gt_path.exists():
        raise SystemExit(f"{gt_path} is absent")
    gt = read_mot_ground_truth(gt_path)
    gt_frames = load_frames(gt_path)
    video = folder / f"{seq}.mp4"
    sets = [("gt", [gt_frames]),
            ("gt-miss", [degrade(gt, len(gt_frames), seed) for seed in range(SEEDS)])]
    if not args.no_yolox:
        sets.append(("yolox", [load_frames(yolox_detections(video, args.cache))]))
    rows = []
    for dets_name, runs in [*sets, *[(f"{n}+look", r) for n, r in sets if n != "gt-miss"]]:
        looks = frame_looks(video, runs[0]) if dets_name.endswith("+look") else None
        outs, us = run_ours(runs, TrackerConfig(), looks)
        rows.append(score(seq, dets_name, "dwell tracker", gt, outs, us))
        v_outs, tid_outs, maps, v_us, _ = run_visits(runs, TrackerConfig(), looks)
        rows.append(score(seq, dets_name, "dwell visits", gt, v_outs, v_us,
                          joins=(tid_outs, maps)))
        if args.crosscheck:
            crosscheck(args.norfair_python, f"{seq} {dets_name}", gt, len(gt_frames), outs)
        if looks is not None:
            continue  # the peers use no cue: their rows above stand
        for kind, python, label, params in peers:
            result = run_peer(python, kind, runs, params)
            if result is not None:
                rows.append(score(seq, dets_name, label, gt, *result))
    return rows


def crosscheck(python: str, label: str, gt: dict, n_frames: int, outs: list[Frames]) -> None:
    """Print edge.offline.metrics' IDF1 / ID switches next to motmetrics' on the same tracks."""
    gt_rows = [[[int(i), *b] for i, b in zip(*(x.tolist() for x in gt.get(k, ([], []))),
                                              strict=True)] for k in range(1, n_frames + 1)]
    job = json.dumps({"tracker": "motmetrics", "gt": gt_rows, "runs": outs})
    proc = subprocess.run([python, str(REPO / "bench" / "peer_trackers.py")], input=job,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        print(f"# crosscheck {label}: motmetrics failed: {proc.stderr.strip()[-200:]}")
        return
    theirs = json.loads(proc.stdout)
    for k, out in enumerate(outs):
        pred = {f + 1: ([r[0] for r in rows], [r[1:] for r in rows]) for f, rows in enumerate(out)}
        ours = idf1_and_switches(gt, pred)
        print(f"# crosscheck {label} run {k}: IDF1 ours {ours.idf1:.4f} motmetrics "
              f"{theirs['idf1'][k]:.4f}; ID switches ours {ours.id_switches} motmetrics "
              f"{theirs['switches'][k]:.0f}")


def print_speed(people: int = 5, frames: int = 500, repeat: int = 15) -> None:
    """µs per update with ``people`` walkers detected every frame, and once a second (None
    between, as when the motion gate lets the detector sleep), best of ``repeat`` runs;
    then the same with the appearance cue, and what computing the cue costs perception."""
    from edge.vocabulary.types import Detections

    rng = np.random.default_rng(0)
    boxes = [np.array([[50 + 100 * i + 0.5 * k, 100, 60, 180] for i in range(people)])
             + rng.normal(0, 1, (people, 4)) for k in range(frames)]
    shares = rng.dirichlet(np.ones(20), people)  # one look per walker, a little noise a frame
    looks = [np.sqrt(np.abs(shares + rng.normal(0, 0.005, shares.shape))) for _ in boxes]
    for cue in (False, True):
        dets = [Detections.from_xywh(b, np.full(people, 0.9)) for b in boxes]
        if cue:
            dets = [d.with_look(lk) for d, lk in zip(dets, looks, strict=True)]
        label = " with the appearance cue" if cue else ""
        for every_label, every in (("detected every frame", 1), ("detected once a second", 10)):
            tracker_us, layer_us = _time_updates(dets, every, repeat)
            print(f"# dwell IouTracker{label}, {people} people {every_label} (10 fps): "
                  f"{tracker_us:.0f} µs per frame")
            print(f"# dwell visit layer alone{label}, {people} people {every_label} (10 fps): "
                  f"{layer_us:.0f} µs per frame (floor: 300)")
    print_cue_cost(boxes[0], repeat)


def _time_updates(dets: list, every: int, repeat: int) -> tuple[float, float]:
    """Best µs per frame of the tracker, and of the visit layer over its output."""
    best, best_layer = float("inf"), float("inf")
    size = (1280, 720)
    for _ in range(repeat):
        tracker = IouTracker(TrackerConfig(), frame_size=size)
        t0 = time.perf_counter()
        outs = [tracker.update(d if k % every == 0 else None, k * 0.1)
                for k, d in enumerate(dets)]
        best = min(best, (time.perf_counter() - t0) / len(dets) * 1e6)
        visits = Visits(BehaviourConfig(), ZoneMap([], size), size)
        t0 = time.perf_counter()
        for k, tracks in enumerate(outs):
            visits.visiting(visits.update(tracks, k * 0.1))  # as the pipeline does
        best_layer = min(best_layer, (time.perf_counter() - t0) / len(dets) * 1e6)
    return best, best_layer


def print_cue_cost(xywh: np.ndarray, repeat: int) -> None:
    """What perception spends computing the cue for these people on a 1280x720 picture."""
    from edge.perception.appearance import torso_looks

    image = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), np.uint8)
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1).astype(np.float32)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(100):
            torso_looks(image, xyxy)
        best = min(best, (time.perf_counter() - t0) / 100 * 1e6)
    print(f"# appearance cue in perception (edge/perception/appearance.py), {len(xyxy)} people "
          f"of {xywh[0, 3]:.0f} px: {best:.0f} µs per frame")


def print_table(rows: list[Row]) -> None:
    head = (f"| {'sequence':<14} | {'dets':<10} | {'tracker':<26} | IDF1  | IDsw | "
            f"visits/person (split) | handed over | swaps | wrong joins | dwell err s | µs/frame |")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        per = f"{r.visits}/{r.people} = {r.visits / r.people:.2f} ({r.split})"
        if len(per) > 21:
            per = per.replace(" = ", "=")
        joins = "-" if r.joins_wrong is None else str(r.joins_wrong)
        print(f"| {r.sequence:<14} | {r.detections:<10} | {r.tracker:<26} | {r.idf1:.3f} | "
              f"{r.switches:>4} | {per:<21} | {r.handed:>11} | {r.swapped:>5} | {joins:>11} | "
              f"{r.dwell_err:>11.2f} | {r.us:>8.0f} |")


if __name__ == "__main__":
    main()

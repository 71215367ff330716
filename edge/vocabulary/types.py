"""Typed data passed between stages. Arrays, not lists of objects; shapes checked once here.

Conventions: boxes are ``xyxy`` float32 pixels of the source image; ``yaw`` is degrees, NaN
where no face was seen (a back turned, a face too small); ``t`` is seconds since the start of
the input, taken from the frame — no stage below the source reads a clock. ``look`` is the
optional appearance cue (edge/perception/appearance.py): per person a coarse colour histogram
of the torso, as square roots (N, K), NaN rows where the torso was not clear; None when there
were no pixels (a trace, ground truth). It lives in memory only: a trace, an event or a
message never carries it (docs/privacy-notice.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.vocabulary.boxes import feet_of

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Camera:
    """Which camera of which store a sensor is: its MQTT topics, client id and outbox name."""

    store: str
    camera: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded image (BGR uint8, HxWx3) and when it was taken."""

    image: npt.NDArray[np.uint8]
    t: float
    index: int


def _f32(a: object, shape_tail: tuple[int, ...], name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float32)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise ValueError(f"{name} must have shape (N{''.join(f', {d}' for d in shape_tail)}), "
                         f"got {arr.shape}")
    return arr


# The grid a trace records on (edge/offline/trace.py): boxes [x, y, w, h] to 0.1 px, scores
# to 0.001, yaw to 0.1 degree, t to 0.1 ms. The sensor puts live numbers on it before deciding
# (``Detections.on_record_grid``), so that a replay of the trace sees what run decided on.
BOX_DECIMALS, SCORE_DECIMALS, YAW_DECIMALS, T_DECIMALS = 1, 3, 1, 4


@dataclass(frozen=True)
class Detections:
    """People found in one frame: one array per field, filtered with boolean masks."""

    xyxy: FloatArray
    score: FloatArray
    yaw: FloatArray = field(default=None)  # type: ignore[arg-type]  # NaN-filled when None
    look: FloatArray | None = None  # (N, K) appearance cue, in memory only; None: no pixels

    def __post_init__(self) -> None:
        xyxy = _f32(self.xyxy, (4,), "xyxy")
        n = len(xyxy)
        score = _f32(self.score, (), "score")
        yaw = np.full(n, np.nan, np.float32) if self.yaw is None else _f32(self.yaw, (), "yaw")
        if len(score) != n or len(yaw) != n:
            raise ValueError(f"xyxy, score, yaw lengths differ: {n}, {len(score)}, {len(yaw)}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "yaw", yaw)
        if self.look is not None:
            object.__setattr__(self, "look", _looks(self.look, n))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    @classmethod
    def from_xywh(cls, xywh: object, score: object, yaw: object = None) -> Detections:
        b = _f32(xywh, (4,), "xywh").copy()
        b[:, 2:] += b[:, :2]
        yaw_arr = None if yaw is None else np.asarray(yaw, np.float32)
        return cls(b, np.asarray(score, np.float32), yaw_arr)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Detections:
        look = None if self.look is None else self.look[mask]
        return Detections(self.xyxy[mask], self.score[mask], self.yaw[mask], look)

    def with_yaw(self, yaw: FloatArray) -> Detections:
        return Detections(self.xyxy, self.score, yaw, self.look)

    def on_record_grid(self) -> Detections:
        """Rounded as a trace records them (idempotent): boxes as [x, y, w, h] to 0.1 px,
        then back to xyxy exactly as a replay reads them; scores to 0.001; yaw to 0.1 deg.
        A score of 0.5496 is then 0.55 both live and in the replay, not doubtful in one and
        confident in the other."""
        if not len(self):
            return self
        xywh = np.round(self.xywh, BOX_DECIMALS)
        xywh[:, 2:] += xywh[:, :2]
        return Detections(xywh, np.round(self.score, SCORE_DECIMALS),
                          np.round(self.yaw, YAW_DECIMALS), self.look)

    def with_look(self, look: FloatArray | None) -> Detections:
        return Detections(self.xyxy, self.score, self.yaw, look)

    @property
    def xywh(self) -> FloatArray:
        b = self.xyxy.copy()
        b[:, 2:] -= b[:, :2]
        return b


def _looks(a: object, n: int) -> FloatArray:
    arr = np.asarray(a, dtype=np.float32)
    if arr.ndim != 2 or len(arr) != n:
        raise ValueError(f"look must have shape (N, K) with N = {n}, got {arr.shape}")
    return arr


@dataclass(frozen=True)
class Tracks:
    """Everyone the tracker currently follows.

    ``matched`` is False for a person predicted through a detector miss or occlusion (still
    the same visit, just not seen in this frame). ``look``: the appearance cue of each row's
    detection in this frame (NaN rows: none), or None when the detections had none.
    """

    ids: IntArray
    xyxy: FloatArray
    score: FloatArray
    yaw: FloatArray
    matched: BoolArray
    look: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("xyxy", "score", "yaw", "matched"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Tracks.{name} has {len(getattr(self, name))} rows, ids {n}")
        if self.look is not None and len(self.look) != n:
            raise ValueError(f"Tracks.look has {len(self.look)} rows, ids {n}")

    @classmethod
    def empty(cls) -> Tracks:
        return cls(np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                   np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Tracks:
        return Tracks(self.ids[mask], self.xyxy[mask], self.score[mask], self.yaw[mask],
                      self.matched[mask], None if self.look is None else self.look[mask])

    @property
    def feet(self) -> FloatArray:
        """Bottom centre of each box (pixels), where zones are tested."""
        return feet_of(self.xyxy)


@dataclass(frozen=True)
class HeadHints:
    """What the pipeline tells perception about the people it saw in the last step, so that
    heads are read only where a reading can count: their visitor ``ids``, boxes (``xyxy``)
    and ``can_count`` (False: walking or staff, whose head sweeps never count). A detection
    that is none of them and scores below ``new_track_score`` starts no track: its yaw would
    never be used."""

    ids: IntArray
    xyxy: FloatArray
    can_count: BoolArray
    new_track_score: float = 0.0

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.xyxy) == len(self.can_count):
            raise ValueError(f"HeadHints: {len(self.ids)} ids, {len(self.xyxy)} boxes, "
                             f"{len(self.can_count)} can_count")

    @classmethod
    def empty(cls) -> HeadHints:
        return cls(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.ids)

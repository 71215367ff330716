"""The sections of the configuration, one per stage: keys, bounds, and what each trades off.

Config holds plain data only: each stage derives what it needs (zone masks, topic names) itself.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Section):
    uri: str = Field(
        "0",
        description="Where frames come from: a video file path, a V4L2 device index or "
        "/dev/videoN, an rtsp:// or http:// URL, or 'picamera2' for a Raspberry Pi CSI camera.",
    )
    width: int | None = Field(
        None, ge=160, le=3840,
        description="Capture width asked of a live camera. Larger sees faces further away (better "
        "yaw) but costs CPU in every stage; None keeps the camera's default.",
    )
    height: int | None = Field(None, ge=120, le=2160, description="Capture height (see width).")
    fps: float | None = Field(
        None, gt=0, le=120,
        description="Frame rate asked of a live camera; None keeps its default. Higher rates "
        "react faster but the Pi drops what it cannot process anyway.",
    )
    reconnect_max_s: float = Field(
        30.0, ge=1, le=3600,
        description="Longest wait between attempts to reopen a lost camera or stream. Lower "
        "recovers sooner after a blip but hammers a dead camera or server harder.",
    )


class MotionConfig(Section):
    width: int = Field(
        160, ge=64, le=640,
        description="Width of the grey copy the motion gate compares. Smaller is cheaper but "
        "misses small, distant movement.",
    )
    threshold: int = Field(
        18, ge=1, le=255,
        description="Grey-level change that counts as motion. Lower wakes the detector on "
        "flicker and noise; higher misses slow movement in dim light.",
    )
    min_area: float = Field(
        0.002, gt=0, le=1,
        description="Fraction of the image that must change before the detector runs. Lower "
        "reacts to smaller movements at the cost of more detector runs.",
    )
    redetect_interval_s: float = Field(
        1.0, gt=0, le=30,
        description="While anyone is tracked, run the detector at least this often even without "
        "motion, so people standing still are not lost. Must stay well below the tracker's "
        "occlusion grace. Lower confirms standing people more often at higher CPU cost.",
    )


class DetectorConfig(Section):
    model: Literal["ssdlite-pedestrian", "yolox-nano"] = Field(
        "ssdlite-pedestrian",
        description="Person detector. ssdlite-pedestrian ships with dwell (no download); "
        "yolox-nano finds more people (recall 0.84 vs 0.71 on TUD-Stadtmitte) and is faster on "
        "OpenCV 5, installed with `dwell models install yolox-nano`.",
    )
    input_size: Literal[320, 416] = Field(
        416,
        description="YOLOX network input size. 320 is ~1.7x faster but misses more small, "
        "distant people. (SSDLite always runs at 300.)",
    )
    score_threshold: float = Field(
        0.4, gt=0, lt=1,
        description="Lowest confidence kept as a person. Lower finds more people but invents "
        "some (mannequins, posters); higher misses people in poor light.",
    )
    nms_iou: float = Field(
        0.45, gt=0, lt=1,
        description="Overlap above which two boxes are one person. Higher keeps people in a "
        "tight group apart but may double-count one person.",
    )
    runtime: Literal["auto", "onnxruntime", "opencv", "ncnn"] = Field(
        "auto",
        description="Inference runtime for yolox-nano (SSDLite always runs on opencv). auto "
        "measures the installed runtimes on this device once (cached in state_dir) and takes "
        "the fastest whose output equals cv2.dnn's; onnxruntime measured ~2x faster than "
        "opencv (cv2.dnn) here with the same boxes; ncnn (optional: pip install ncnn pnnx, "
        "then `dwell models install yolox-nano`) is the fastest published on Pi CPUs "
        "(docs/perception.md).",
    )
    threads: int | None = Field(
        None, ge=1, le=64,
        description="CPU threads for the detector's network; unset: every core but one (one "
        "on a single core). The network runs beside the rest of the pipeline (yaw, tracker, "
        "behaviour), which keeps the remaining core: more threads make each inference faster "
        "but take that core from the rest (on 2 cores, 1 thread did 89 fps, 2 did 79).",
    )


class TrackerConfig(Section):
    occlusion_grace_s: float = Field(
        3.0, ge=0, le=60,
        description="How long a person may be unseen (detector miss, occlusion) and still be the "
        "same visit. Longer avoids splitting a visit (which resets dwell) but may join two "
        "different people who pass the same spot.",
    )
    min_iou: float = Field(
        0.2, ge=0, lt=1,
        description="Least overlap between a predicted box and a detection to be the same "
        "person. Lower follows fast walkers at the risk of swapping people who cross.",
    )
    new_track_score: float = Field(
        0.55, ge=0, le=1,
        description="Detections scoring below this only keep an already tracked person alive "
        "(ByteTrack's idea); they never start a new visit. Higher avoids phantom visits from "
        "doubtful detections; lower picks newcomers up sooner in poor light.",
    )
    reacquire_distance: float = Field(
        0.5, ge=0, le=5,
        description="How far (in box heights) from their path an unseen person may reappear "
        "and keep their visit when the boxes no longer overlap (the path runs from where they "
        "were last seen to where their last speed would have taken them). Larger keeps visits "
        "across longer occlusions and turns; it may hand one person's visit to another who "
        "appears nearby.",
    )
    velocity_damping_s: float = Field(
        1.0, gt=0, le=30,
        description="Time constant with which an unseen person's predicted motion fades. "
        "Longer extrapolates steady walkers further behind a pillar; shorter keeps the "
        "prediction near where someone stopped or turned.",
    )
    appearance_cue: bool = Field(
        True, description="Live only: a coarse colour histogram of each person's torso (from "
        "views clear of other people, kept in memory while they are followed, never recorded: "
        "docs/privacy-notice.md) lets the tracker and the visit layer refuse to continue a "
        "hidden person on someone in clearly different clothes. Off decides from boxes alone, "
        "exactly as a replay of a trace does, at the cost of more visits handed to a "
        "companion who walked in step behind them.",
    )


class YawConfig(Section):
    enabled: bool = Field(
        True, description="Estimate head yaw for looking-around. Off saves CPU and the face "
        "model, but looking-around can then never ping.",
    )
    min_face_px: int = Field(
        12, ge=8, le=400,
        description="Smallest face (pixels wide) whose yaw is trusted (docs/yaw.md measures "
        "it). Lower reads yaw from further away but noisier; smaller faces give null yaw. Head "
        "regions narrower than 2.5x this are not searched (a face fills ~40% of its region).",
    )
    model: Literal["auto", "yunet", "blazeface"] = Field(
        "auto",
        description="Face detector for yaw. auto: yunet when installed (`dwell models install "
        "yunet`), else blazeface, which ships with dwell. See docs/yaw.md for their errors.",
    )
    min_score: float = Field(
        0.6, gt=0, lt=1,
        description="Lowest face-detector confidence trusted. Lower reads yaw on more (blurred, "
        "turned) faces but also on hair and hoods (wrong yaw); higher gives null more often.",
    )
    input_px: Literal[64, 96, 128, 160] = Field(
        96,
        description="Side of the square the head region is resized to for YuNet (BlazeFace "
        "always uses 128). Larger finds smaller faces in the region at a higher CPU cost.",
    )
    interval_s: float = Field(
        0.2, ge=0, le=2,
        description="Each visitor's head is read at most this often (0: on every frame the "
        "detector looks at). A look around is sweeps of 30 degrees or more over seconds, read "
        "as the median of three readings; longer saves CPU on busy frames but can miss a quick "
        "glance (bench/yaw_cadence.py measures the decisions it changes).",
    )


class BehaviourConfig(Section):
    visit_min_s: float = Field(
        0.5, ge=0, le=30,
        description="How long someone must be seen before their visit counts. Longer ignores "
        "passers-by glimpsed in the doorway but starts every dwell clock later.",
    )
    visit_memory_s: float = Field(
        10.0, ge=0, le=600,
        description="How long someone lost inside the scene (not at the picture's edge, not "
        "through an entrance) is remembered, so that a new track appearing near their path "
        "continues their visit instead of starting another. Longer keeps visits whole behind "
        "tall shelves and long occlusions; it ends the visits of people who leave mid-picture "
        "(a back door) that much later and gives a newcomer near that spot more chance of "
        "inheriting someone's visit. Dwell never includes it (a visit ends at its last sighting).",
    )
    scenery_still: float = Field(
        0.3, gt=0, le=5,
        description="A detection born inside the picture whose feet stay within this many box "
        "heights of where it appeared (and whose head never turned) is still: possibly scenery "
        "(a mannequin, a poster, a coat stand), followed but no visit and no ping until it "
        "moves. Larger ignores more swaying reflections; smaller lets a real person who "
        "appears from behind a shelf, or stood still since the sensor started, count sooner.",
    )
    linger_radius: float = Field(
        0.5, gt=0, le=5,
        description="How far (in the person's own box heights) the feet may wander and still "
        "count as lingering. Larger counts slow browsing as lingering.",
    )
    look_around_min_deg: float = Field(
        30.0, ge=5, le=120,
        description="Smallest head sweep that counts as a turn when looking around. Lower "
        "catches subtle glances but also ordinary reading of shelves.",
    )
    help_point_s: float = Field(
        2.0, ge=0, le=60,
        description="How long a visitor must stay in a help_point zone to count as waiting "
        "there, not just crossing it. Longer avoids pings from passers-through but answers later.",
    )
    staff_near: float = Field(
        1.0, gt=0, le=10,
        description="Distance (in box heights) within which a member of staff is with a visitor.",
    )
    attended_s: float = Field(
        3.0, ge=0, le=120,
        description="How long staff must be near a visitor before the visitor counts as "
        "attended (no pings). Shorter silences pings on a passing colleague.",
    )
    party_window_s: float = Field(
        2.0, ge=0, le=30,
        description="Visitors who arrive within this many seconds of each other and stay close "
        "are one party and get one ping. Longer merges strangers who arrive together.",
    )
    party_near: float = Field(
        1.0, gt=0, le=10,
        description="Distance (in box heights, feet to feet) within which party members count "
        "as together; people side by side are ~0.3 apart. Larger keeps a party that spreads "
        "out along a shelf together but also joins strangers.",
    )
    party_together_s: float = Field(
        5.0, ge=0, le=120,
        description="How long visitors who arrived together must stay close to count as one "
        "party. Longer avoids joining a stranger who entered at the same moment; shorter "
        "recognises a party sooner.",
    )
    party_apart_s: float = Field(
        10.0, gt=0, le=600,
        description="How long party members may be apart before they count as separate "
        "visitors (each pinged on their own). Longer tolerates a party splitting to browse.",
    )
    walk_speed: float = Field(
        0.5, gt=0, le=10,
        description="Feet speed (box heights per second, over the last second) above which a "
        "visitor is walking, so head turns do not count as looking around. Lower ignores "
        "turns of slow browsers too; higher lets people glancing on their way out ping.",
    )


class PolicyConfig(Section):
    space_window_s: float = Field(
        90.0, ge=0, le=3600,
        description="Give-them-space window: no ping about a visitor before this much of their "
        "visit has passed (the help point excepted). Longer lets people browse in peace but "
        "makes the ones who want help wait.",
    )
    linger_s: float = Field(
        30.0, gt=0, le=3600,
        description="How long a visitor must stay in one spot to count as lingering. Raising it "
        "pings less often but later.",
    )
    look_around_turns: int = Field(
        3, ge=1, le=20,
        description="Head sweeps (left-right) within look_around_window_s that count as "
        "looking around for help. More turns means fewer false pings but later ones.",
    )
    look_around_window_s: float = Field(
        10.0, gt=0, le=300,
        description="Time window in which look_around_turns must happen. Longer catches slow "
        "searching but also normal browsing.",
    )
    visitor_cooldown_s: float = Field(
        300.0, ge=0, le=86400,
        description="At most one ping per visitor per this many seconds. Shorter re-pings a "
        "visitor still waiting; longer avoids nagging the assistant.",
    )
    max_pings_per_minute: int = Field(
        4, ge=1, le=60,
        description="Store-wide cap on pings per minute; the rest wait their turn and are "
        "dropped when stale. Lower protects a busy assistant; higher keeps pings timely in a "
        "crowd.",
    )
    stale_s: float = Field(
        60.0, gt=0, le=3600,
        description="A ping held back by the rate limit for longer than this is dropped.",
    )
    escalate_after_s: float | None = Field(
        None, gt=0, le=3600,
        description="Re-ping once if a ping is not acknowledged within this many seconds; "
        "None never re-pings.",
    )
    opening_hours: list[str] = Field(
        default_factory=list,
        description="Local times when pings may be sent, as 'HH:MM-HH:MM' ranges; empty means "
        "always.",
    )

    @field_validator("opening_hours")
    @classmethod
    def _check_hours(cls, ranges: list[str]) -> list[str]:
        parse_hours(ranges)
        return ranges


def parse_hours(ranges: list[str]) -> list[tuple[int, int]]:
    """'HH:MM-HH:MM' ranges as (start, end) minutes of the day; end < start crosses midnight.

    Raises ValueError naming the range that is not of that form.
    """
    out = []
    for text in ranges:
        try:
            start, end = text.split("-")
            minutes = []
            for hhmm in (start, end):
                hours, mins = (int(x) for x in hhmm.strip().split(":"))
                if not (0 <= hours <= 24 and 0 <= mins < 60):
                    raise ValueError
                minutes.append(hours * 60 + mins)
        except ValueError:
            raise ValueError(f"{text!r} is not an 'HH:MM-HH:MM' range") from None
        out.append((minutes[0], minutes[1]))
    return out


ZoneKind = Literal["help_point", "staff", "ignore", "entrance"]


def _segments_cross(p1: Any, p2: Any, q1: Any, q2: Any) -> bool:
    def orient(a: Any, b: Any, c: Any) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


class Zone(Section):
    name: str = Field(min_length=1, max_length=64, description="Shown in pings ('help desk').")
    kind: ZoneKind = Field(
        description="help_point: pings at once when a visitor waits there; staff: whoever "
        "starts a visit here is staff; ignore: nobody here is tracked (posters, a street "
        "window); entrance: the doorway."
    )
    polygon: list[tuple[float, float]] = Field(
        description="Corners in normalised image coordinates (0..1, x right, y down). A "
        "person is in the zone when the bottom centre of their box (the feet) is inside."
    )

    @field_validator("polygon")
    @classmethod
    def _check_polygon(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(points) < 3:
            raise ValueError(f"needs at least 3 points, got {len(points)}")
        for x, y in points:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside 0..1")
        n = len(points)
        edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
        for i in range(n):
            for j in range(i + 2, n):
                if i == 0 and j == n - 1:
                    continue  # adjacent through the closing edge
                if _segments_cross(*edges[i], *edges[j]):
                    raise ValueError(f"is self-intersecting (edges {i} and {j} cross)")
        return points


class LogConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG explains every decision but fills the journal."
    )
    json_logs: bool | None = Field(
        None, alias="json",
        description="One JSON object a line (journald); None decides by whether stderr is a TTY.",
    )

"""Motion gate: still scenes stay quiet, movement wakes the detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config.sections import MotionConfig
from edge.perception.motion import MotionGate
from tests.conftest import shared_file

CFG = MotionConfig()  # type: ignore[call-arg]
W, H = 640, 480


def scene(seed: int = 0) -> np.ndarray:
    """A textured still background (a shop), seeded."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (24, 32, 3), dtype=np.uint8)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST)


def with_person(image: np.ndarray, x: int, w: int = 60, h: int = 180) -> np.ndarray:
    out = image.copy()
    out[200:200 + h, x:x + w] = (30, 30, 220)
    return out


def test_first_frame_looks_then_a_still_scene_is_quiet() -> None:
    gate = MotionGate(CFG, (W, H))
    background = scene()
    assert gate.changed(background)  # nothing to compare with: look once
    assert not any(gate.changed(background) for _ in range(20))


def test_sensor_noise_below_threshold_is_not_motion() -> None:
    gate = MotionGate(CFG, (W, H))
    background = scene()
    gate.changed(background)
    rng = np.random.default_rng(1)
    for _ in range(10):
        noise = rng.integers(-6, 7, background.shape)
        noisy = np.clip(background.astype(int) + noise, 0, 255).astype(np.uint8)
        assert not gate.changed(noisy)


@pytest.mark.parametrize("x", [20, 300, 560])
def test_someone_walking_in_is_motion(x: int) -> None:
    gate = MotionGate(CFG, (W, H))
    background = scene()
    for _ in range(5):
        gate.changed(background)
    assert gate.changed(with_person(background, x))


def test_a_tiny_change_below_min_area_is_ignored() -> None:
    gate = MotionGate(CFG, (W, H))
    background = scene()
    gate.changed(background)
    speck = background.copy()
    speck[100:104, 100:104] = 255  # a 4x4 px glint: far below 0.2 % of the picture
    assert not gate.changed(speck)


def test_slow_walker_is_still_seen() -> None:
    """A person moving 2 px a frame barely differs from the previous frame, but does from
    the background the gate keeps."""
    gate = MotionGate(CFG, (W, H))
    background = scene()
    for _ in range(5):
        gate.changed(background)
    seen = [gate.changed(with_person(background, 100 + 2 * i)) for i in range(30)]
    assert all(seen[:10])


def test_bad_frame_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        MotionGate(CFG, (0, 480))


@pytest.mark.perception
def test_real_street_moves_and_its_first_frame_repeated_does_not() -> None:
    video = shared_file("footage/TUD-Stadtmitte/TUD-Stadtmitte.mp4")
    cap = cv2.VideoCapture(str(video))
    frames = [cap.read()[1] for _ in range(40)]
    gate = MotionGate(CFG, (W, H))
    moving = [gate.changed(f) for f in frames]
    assert sum(moving) >= 38  # people walk through every frame of this clip
    still = MotionGate(CFG, (W, H))
    assert [still.changed(frames[0]) for _ in range(10)] == [True] + [False] * 9


@pytest.mark.parametrize(("size", "shrink"), [((640, 480), "halve"), ((1280, 960), "halve"),
                                              ((480, 360), "area"), ((768, 576), "linear"),
                                              ((1280, 720), "halve"), ((1000, 750), "linear"),
                                              ((160, 120), "halve")])
def test_the_shrink_is_chosen_by_scale(size: tuple[int, int], shrink: str) -> None:
    assert MotionGate(CFG, size).shrink == shrink


@pytest.mark.parametrize("size", [(640, 480), (480, 360)])
def test_the_cheap_shrinks_average_like_inter_area(size: tuple[int, int]) -> None:
    """Halving (or INTER_AREA on grey) gives INTER_AREA-on-colour's small picture to within
    2 grey levels, so the gate decides the same at a fraction of the cost."""
    image = cv2.resize(scene(3), size, interpolation=cv2.INTER_LINEAR)
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 8, image.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    cheap = MotionGate(CFG, size)._small_grey(noisy).astype(int)
    old = MotionGate(CFG, size, shrink="area-colour")._small_grey(noisy).astype(int)
    assert cheap.shape == old.shape and int(np.abs(cheap - old).max()) <= 2


def test_an_unknown_shrink_is_refused() -> None:
    with pytest.raises(ValueError, match="motion shrink 'cubic'"):
        MotionGate(CFG, (W, H), shrink="cubic")

"""MOT text files: detections (det.txt, gt.txt as detections) and ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.offline.mot import read_mot_detections, read_mot_ground_truth
from edge.vocabulary.errors import InputError
from tests.conftest import shared_file

DET_TXT = """\
1,-1,10,20,30,60,0.9,-1,-1,-1
1,-1,100,20,30,60,0.45,-1,-1,-1
3,-1,12,22,30,60,0.8,-1,-1,-1
"""
MOT15_GT = """\
2,7,10,20,30,60,1,4.5,5.5,0
1,7,8,20,30,60,1,4.4,5.5,0
"""
MOT16_GT = """\
1,1,10,20,30,60,1,1,0.9
1,2,50,20,30,60,0,1,1.0
1,3,90,20,30,60,1,7,0.5
2,1,12,20,30,60,1,1,0.8
"""


def write(tmp_path: Path, text: str, name: str = "file.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_det_txt_yields_every_frame_with_time_from_fps(tmp_path: Path) -> None:
    frames = list(read_mot_detections(write(tmp_path, DET_TXT), fps=10))
    assert [t for t, _ in frames] == pytest.approx([0.0, 0.1, 0.2])
    assert [len(d) for _, d in frames] == [2, 0, 1]
    first = frames[0][1]
    assert first.xyxy.tolist() == [[10, 20, 40, 80], [100, 20, 130, 80]]
    assert first.score.tolist() == pytest.approx([0.9, 0.45])
    assert np.isnan(first.yaw).all()


def test_unsorted_gt_lines_and_score_column(tmp_path: Path) -> None:
    frames = list(read_mot_detections(write(tmp_path, MOT15_GT), fps=25))
    assert len(frames) == 2
    assert frames[0][1].xyxy[0, 0] == 8 and frames[1][1].xyxy[0, 0] == 10
    assert frames[0][1].score.tolist() == [1.0]


def test_six_columns_means_sure_boxes(tmp_path: Path) -> None:
    (_, dets), = read_mot_detections(write(tmp_path, "1,-1,1,2,3,4\n"), fps=1)
    assert dets.score.tolist() == [1.0]


@pytest.mark.parametrize(("line", "what"), [
    ("1,-1,10,20,abc,60,0.9", "not a number"),
    ("1,-1,10,20,30", "at least"),
    ("0,-1,10,20,30,60,0.9", "frame"),
    ("1.5,-1,10,20,30,60,0.9", "frame"),
    ("1,-1,10,20,0,60,0.9", "width and height"),
    ("1,-1,10,20,nan,60,0.9", "non-finite"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, what: str) -> None:
    path = write(tmp_path, DET_TXT + line + "\n")
    with pytest.raises(InputError, match=what) as info:
        list(read_mot_detections(path, fps=25))
    assert f"{path}:4:" in str(info.value)
    assert info.value.line == 4


def test_missing_file_and_bad_fps(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(read_mot_detections(tmp_path / "absent.txt", fps=25))
    with pytest.raises(InputError, match="fps"):
        list(read_mot_detections(write(tmp_path, DET_TXT), fps=0))


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    assert list(read_mot_detections(write(tmp_path, "\n# comment\n"), fps=25)) == []


def test_ground_truth_keeps_ids_and_drops_what_mot16_ignores(tmp_path: Path) -> None:
    gt = read_mot_ground_truth(write(tmp_path, MOT16_GT))
    assert sorted(gt) == [1, 2]
    ids, boxes = gt[1]
    assert ids.tolist() == [1]  # id 2 not considered, id 3 is not a pedestrian
    assert boxes.tolist() == [[10, 20, 40, 80]]
    gt15 = read_mot_ground_truth(write(tmp_path, MOT15_GT, "gt15.txt"))
    assert gt15[1][0].tolist() == [7] and gt15[2][0].tolist() == [7]


def test_tud_stadtmitte_ground_truth() -> None:
    path = shared_file("footage/TUD-Stadtmitte/gt/gt.txt")
    gt = read_mot_ground_truth(path)
    assert sum(len(ids) for ids, _ in gt.values()) == 1156
    assert len({int(i) for ids, _ in gt.values() for i in ids}) == 10
    frames = list(read_mot_detections(path, fps=25))
    assert len(frames) == 179 and frames[-1][0] == pytest.approx(178 / 25)

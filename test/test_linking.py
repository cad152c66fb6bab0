"""The cluster linker (thesis 6.2.3, 6.2.4): hand-made clusters with representatives linked into tracks."""
from dataclasses import replace

import numpy as np
import pytest

from helpers import box
from mots_ros import MotsError
from mots_ros.data import rle
from mots_ros.tracking.config import ClassParams, TrackerConfig, from_dict
from mots_ros.tracking.linking import ClusterLinker, VoteLinker, make_tracker, reconfigure
from mots_ros.tracking.run import track_sequence
from mots_ros.tracking.tracker import Tracker
from mots_ros.tracking.types import FrameDetections

H, W = 20, 60
PARAMS = ClassParams(detection_score_threshold=0.5, new_track_score_threshold=0.6, association_threshold=2.0,
                     keep_alive=1)
SLOTS = [(0, 0, 4, 4), (0, 10, 4, 14), (0, 20, 4, 24), (10, 0, 14, 4), (10, 30, 14, 34)]  # disjoint boxes


def config(**kw) -> TrackerConfig:
    return TrackerConfig(car=replace(PARAMS, **kw), pedestrian=replace(PARAMS, **kw), linker="clusters")


def clusters(t, objs) -> FrameDetections:
    """``objs``: (class, score, representatives (R, 2)) per cluster, each in its own box."""
    if not objs:
        return FrameDetections.empty(t, t, H, W, 2)
    masks = rle.encode(np.stack([box(H, W, *SLOTS[i]) for i in range(len(objs))], axis=2))
    reps = np.array([o[2] for o in objs], np.float32)
    boxes = np.array([[s[1], s[0], s[3], s[2]] for s in SLOTS[:len(objs)]], np.float32)
    return FrameDetections(t, t, H, W, boxes, np.array([o[1] for o in objs], np.float32),
                           np.array([o[0] for o in objs], np.int64), masks, reps.mean(1), reps)


def around(x, y, spread=0.3):
    """Three representatives around (x, y)."""
    return [[x - spread, y], [x + spread, y], [x, y + spread]]


def ids(tracks):
    """(class, track id) per tracked cluster, in the order of the clusters (their boxes' slots)."""
    order = np.lexsort((tracks.boxes[:, 0], tracks.boxes[:, 1]))
    return list(zip(tracks.classes[order].tolist(), tracks.track_ids[order].tolist()))


def test_links_clusters_of_adjacent_frames_greedily():
    frames = [
        clusters(0, [(1, 0.9, around(0, 0)), (1, 0.9, around(10, 0)), (2, 0.9, around(0, 0))]),
        # order swapped, a little moved; the pedestrian keeps its own ids although its embedding is the car's
        clusters(1, [(1, 0.9, around(10.5, 0)), (1, 0.9, around(0.5, 0)), (2, 0.9, around(0.2, 0))]),
        # the car at 10 is missing; one far away (20) starts track 3; a low-scoring one neither links nor starts
        clusters(2, [(1, 0.9, around(1, 0)), (1, 0.9, around(20, 0)), (1, 0.55, around(30, 0))]),
        # the car at 10 is back after one missed frame (keep_alive 1): its old id
        clusters(3, [(1, 0.9, around(10.5, 0)), (1, 0.9, around(1, 0))]),
    ]
    out = track_sequence(frames, config())
    assert ids(out[0]) == [(1, 1), (1, 2), (2, 1)]
    assert ids(out[1]) == [(1, 2), (1, 1), (2, 1)]
    assert ids(out[2]) == [(1, 1), (1, 3)]
    assert ids(out[3]) == [(1, 2), (1, 1)]
    assert out[3].ages.tolist() == [3, 3]
    # without keep-alive the returning car is a new track
    assert ids(track_sequence(frames, config(keep_alive=0))[3]) == [(1, 4), (1, 1)]


def test_the_closest_pair_of_representatives_decides():
    # cluster centres 4 apart (above the threshold 2), but one representative of each lies 1 from the other's
    far = [[0, 0], [0, 0.2], [2, 0]]
    near = [[3, 0], [5, 0], [4.0, 8.0]]
    out = track_sequence([clusters(0, [(1, 0.9, far)]), clusters(1, [(1, 0.9, near)])], config())
    assert np.linalg.norm(np.mean(far, 0) - np.mean(near, 0)) > 2.0
    assert ids(out[1]) == [(1, 1)]
    assert ids(track_sequence([clusters(0, [(1, 0.9, far)]), clusters(1, [(1, 0.9, near)])],
                              config(association_threshold=0.9))[1]) == [(1, 2)]


def test_greedy_takes_the_cheapest_pair_first():
    # tracks at 0 and 2, clusters at 1.2 and 3.5, threshold 1.6: greedy links 2-1.2 (0.8) first, which leaves
    # 0-3.5 (3.5): too far, so 3.5 starts track 3; the Hungarian tracker links both (0-1.2 1.2, 2-3.5 1.5)
    frames = [clusters(0, [(1, 0.9, [[0, 0]]), (1, 0.9, [[2, 0]])]),
              clusters(1, [(1, 0.9, [[1.2, 0]]), (1, 0.9, [[3.5, 0]])])]
    out = track_sequence(frames, config(association_threshold=1.6))
    assert ids(out[1]) == [(1, 2), (1, 3)]
    hungarian = Tracker(replace(config(association_threshold=1.6), linker="association"))
    assert [ids(hungarian.step(f)) for f in [replace(f, representatives=None) for f in frames]][1] == \
        [(1, 1), (1, 2)]


def test_detections_without_representatives_are_refused():
    det = replace(clusters(0, [(1, 0.9, around(0, 0))]), representatives=None)
    with pytest.raises(MotsError, match="frame 0: detections without representatives.*linker: association"):
        ClusterLinker(config()).step(det)
    linker = ClusterLinker(config())
    linker.step(clusters(0, [(1, 0.9, around(0, 0))]))
    linker.step(FrameDetections.empty(1, 1, H, W, 2))  # an empty frame without representatives is fine
    with pytest.raises(MotsError, match="frame 2: 1 representatives per cluster, the tracks have 3"):
        linker.step(clusters(2, [(1, 0.9, [[0, 0]])]))


def test_the_config_selects_the_linker_and_run_time_changes_keep_or_replace_it():
    assert type(make_tracker(TrackerConfig())) is Tracker
    linker = make_tracker(from_dict({"linker": "clusters"}))
    assert isinstance(linker, ClusterLinker)
    same = reconfigure(linker, config(keep_alive=3))
    assert same is linker and linker.config.car.keep_alive == 3
    assert type(reconfigure(linker, TrackerConfig())) is Tracker
    assert type(reconfigure(linker, from_dict({"linker": "votes"}))) is VoteLinker
    with pytest.raises(MotsError, match="linker: expected one of association, clusters, votes, got 'ballots'"):
        from_dict({"linker": "ballots"})

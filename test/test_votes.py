"""Votes for previous frames (thesis 6.3.2): targets and losses on hand-made frames, each cluster's votes in image
pixels, the vote linker on hand-made votes, the votes through saved outputs and ROS messages, and a stream split at
any frame linking as one pass."""
import math

import numpy as np
import pytest

from helpers import box, random_frames
from mots_ros import MotsError
from mots_ros.data import rle
from mots_ros.tracking.cluster import ClassClustering, ClusterConfig, cluster_frame, cluster_votes
from mots_ros.tracking.config import ClassParams, TrackerConfig
from mots_ros.tracking.linking import VoteLinker
from mots_ros.tracking.run import track_sequence
from mots_ros.tracking.types import FrameDetections

torch = pytest.importorskip("torch")

from mots_ros.models.pixel_embedding import PixelLoss  # noqa: E402
from mots_ros.models.pixel_embedding.losses import IGNORE, past_targets  # noqa: E402


# ------------------------------------------------------------------------------------------ targets, losses

def two_frames() -> torch.Tensor:
    """(2, 4, 6) ids: frame 0 an L-shaped car 1001 (mass centre (0.25, 0.75), box centre (0.5, 1)) and a pedestrian
    2001 at (3, 5); frame 1 the car at (1, 1), (1, 2), a new pedestrian 2002 at (3, 4) and an ignore pixel."""
    ids = torch.zeros(2, 4, 6, dtype=torch.int64)
    ids[0, 0, 0:3] = ids[0, 1, 0] = 1001
    ids[0, 3, 5] = 2001
    ids[1, 1, 1:3] = 1001
    ids[1, 3, 4] = 2002
    ids[1, 2, 2] = IGNORE
    return ids


@pytest.mark.parametrize("centre, car_centre", [("mass", (0.25, 0.75)), ("box", (0.5, 1.0))])
def test_past_targets_equal_hand_computed(centre, car_centre):
    offsets, exists, known = past_targets(two_frames(), 2, centre)
    assert offsets.shape == (2, 2, 2, 4, 6) and exists.shape == known.shape == (2, 2, 4, 6)
    want_known = torch.zeros(4, 6, dtype=torch.bool)
    want_known[1, 1:3] = want_known[3, 4] = True  # frame 1's instance pixels; not background, not ignore
    assert torch.equal(known[1, 0], want_known)
    assert not known[0].any() and not known[:, 1].any()  # frame 0 has no frame before it, no frame has t - 2
    want_exists = torch.zeros(4, 6)
    want_exists[1, 1:3] = 1.0  # the car was in frame 0, the new pedestrian was not
    assert torch.equal(exists[1, 0], want_exists)
    cr, cc = car_centre
    assert offsets[1, 0, :, 1, 1].tolist() == [cr - 1, cc - 1]
    assert offsets[1, 0, :, 1, 2].tolist() == [cr - 1, cc - 2]
    assert offsets[1, 0, :, 3, 4].tolist() == [0.0, 0.0] and offsets[0].abs().sum() == 0


def test_past_losses_equal_hand_computed():
    past = torch.zeros(2, 3, 4, 6)  # P = 1: row offset, column offset, existence logit
    past[1, 2, 3, 4] = 2.0  # the new pedestrian wrongly sure it existed in frame 0
    past[1, 0, 1, 1] = -0.75  # the car's first pixel votes for the right row
    past[1, 2, 0, 0] = 50.0  # background: no target, no loss
    out = PixelLoss(offset_weight=1.0, existence_weight=0.1).past_losses(past, two_frames())
    # existence: logits 0, 0 towards 1 and 2 towards 0 -> log 2, log 2, log(1 + e^2)
    assert out["loss_past_existence"].item() == pytest.approx(0.1 * (2 * math.log(2) + math.log(1 + math.e ** 2)) / 3)
    # l1 on the car's 2 pixels (targets (-0.75, -0.25) and (-0.75, -1.25)); the first has its row right
    assert out["loss_past_offset"].item() == pytest.approx((0.25 + 0.75 + 1.25) / 2)


def test_past_votes_branch_trains_and_is_refused_when_out_of_range():
    from mots_ros.models.pixel_embedding import build_pixel_embedding

    torch.manual_seed(0)
    net = build_pixel_embedding(aspp_maps=16, decoder_maps=16, branch_maps=8, embedding_dim=4, samples=50,
                                past_votes=2, offset_unit=4.0)
    assert net.past_frames == 2 and net.config["past_votes"] == 2
    ids = torch.zeros(3, 8, 12, dtype=torch.int64)
    ids[:, 2:5, 3:7] = 1001
    losses = net.losses(torch.rand(3, 3, 32, 48), (ids // 1000), ids)
    assert {"loss_past_existence", "loss_past_offset"} <= set(losses) and all(v.isfinite() for v in losses.values())
    sum(losses.values()).backward()
    assert net.past_head[-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="past_votes must be 0, 1, 2 or 3, got 4"):
        build_pixel_embedding(past_votes=4)


# ------------------------------------------------------------------------------------ clusters and their votes

def test_cluster_votes_average_existence_and_voted_centres():
    h, w = 4, 6
    past = np.zeros((6, h, w), np.float32)  # P = 2
    past[0], past[1], past[2] = 1.0, -2.0, 0.8  # frame t-1: one row down, two columns left, existence 0.8
    past[3], past[4] = 0.0, 0.0
    past[5, 1, 1], past[5, 1, 2], past[5, 2, 1] = 0.1, 0.2, 0.6  # frame t-2: existence 0.3 on average
    pixels = np.array([1 * w + 1, 1 * w + 2, 2 * w + 1])  # an L: mass centre x 4/3, y 4/3; box centre x 1.5, y 1.5
    votes = cluster_votes(past, pixels, w, "mass")
    np.testing.assert_allclose(votes, [[1, 4 / 3, 4 / 3], [0.8, 4 / 3 - 2, 4 / 3 + 1], [0.3, 4 / 3, 4 / 3]],
                               rtol=1e-6)
    np.testing.assert_allclose(cluster_votes(past, pixels, w, "box")[0], [1, 1.5, 1.5])


def test_cluster_frame_gives_votes_in_image_pixels():
    """One car blob, outputs 10 x 12 at stride 4 of an image the network saw at half size: an output pixel covers 8
    image pixels, output pixel (r, c) is centred on image pixel (8c + 3.5, 8r + 3.5)."""
    h, w = 10, 12
    probs = np.zeros((3, h, w), np.float32)
    probs[0] = 1.0
    probs[:, 2:6, 3:9] = np.array([0.1, 0.9, 0.0], np.float32)[:, None, None]
    past = np.zeros((3, h, w), np.float32)
    past[0], past[1], past[2] = 1.0, -2.0, 0.75
    config = ClusterConfig(ClassClustering(3, 1024), ClassClustering(3, 1024))
    det = cluster_frame(probs, np.zeros((4, h, w), np.float32), 0, 0, 80, 96, (40, 48), 4, config, past=past)
    assert len(det) == 1 and det.votes.shape == (1, 2, 3)
    # the blob's centre: row 3.5, column 5.5; its votes: row 4.5, column 3.5
    np.testing.assert_allclose(det.votes[0], [[1, 8 * 5.5 + 3.5, 8 * 3.5 + 3.5], [0.75, 8 * 3.5 + 3.5, 8 * 4.5 + 3.5]])
    assert cluster_frame(probs, np.zeros((4, h, w), np.float32), 0, 0, 80, 96, (40, 48), 4, config).votes is None


# ------------------------------------------------------------------------------------------- the vote linker

H, W = 300, 400  # diagonal 500: the gate 0.05 is 25 image pixels
PARAMS = ClassParams(detection_score_threshold=0.5, new_track_score_threshold=0.6, vote_distance_threshold=0.05)
VOTES = TrackerConfig(car=PARAMS, pedestrian=PARAMS, linker="votes")


def voted(t, objs) -> FrameDetections:
    """``objs``: (class, score, own centre (x, y), [(existence, x, y) per past frame]) per cluster, each with a
    small square mask around its centre."""
    if not objs:
        return FrameDetections.empty(t, t, H, W, 1)
    masks = rle.encode(np.stack([box(H, W, y - 2, x - 2, y + 2, x + 2) for _, _, (x, y), _ in objs], axis=2))
    boxes = np.array([[x - 2, y - 2, x + 2, y + 2] for _, _, (x, y), _ in objs], np.float32)
    votes = np.array([[(1.0, *own), *past] for _, _, own, past in objs], np.float32)
    return FrameDetections(t, t, H, W, boxes, np.array([o[1] for o in objs], np.float32),
                           np.array([o[0] for o in objs], np.int64), masks, np.zeros((len(objs), 1), np.float32),
                           None, votes)


def linked(tracks) -> dict:
    """{(x, y) of the box centre: (class, track id)}."""
    centres = (tracks.boxes[:, :2] + tracks.boxes[:, 2:]) / 2
    return {tuple(int(v) for v in c): (int(k), int(i)) for c, k, i in zip(centres, tracks.classes, tracks.track_ids)}


def test_vote_linker_follows_votes_starts_tracks_and_breaks_ties_by_hungarian():
    frames = [
        voted(0, [(1, 0.9, (50, 50), [(0.1, 0, 0)]), (1, 0.9, (200, 50), [(0.1, 0, 0)]),
                  (2, 0.9, (50, 200), [(0.1, 0, 0)])]),
        # both cars moved and vote for where they were; the pedestrian votes for the old one's place but is not sure
        # it existed (0.4 < 0.5): a new track
        voted(1, [(1, 0.9, (210, 52), [(0.9, 203, 51)]), (1, 0.9, (60, 50), [(0.9, 52, 50)]),
                  (2, 0.9, (55, 200), [(0.4, 50, 200)])]),
        # two cars vote for car 1 (at (60, 50) in frame 1): the nearer vote continues it, the other starts track 3;
        # a car voting far from every instance (gate 25 px) starts track 4; a low-scoring unlinked one is dropped;
        # car 2 voted for nowhere near: not continued; pedestrian 2 continues
        voted(2, [(1, 0.9, (70, 50), [(0.9, 61, 50)]), (1, 0.9, (66, 80), [(0.9, 58, 52)]),
                  (1, 0.9, (300, 150), [(0.9, 260, 150)]), (1, 0.55, (300, 250), [(0.9, 10, 290)]),
                  (2, 0.9, (56, 201), [(0.95, 56, 199)])]),
    ]
    out = track_sequence(frames, VOTES)
    assert linked(out[0]) == {(50, 50): (1, 1), (200, 50): (1, 2), (50, 200): (2, 1)}
    assert linked(out[1]) == {(210, 52): (1, 2), (60, 50): (1, 1), (55, 200): (2, 2)}
    assert linked(out[2]) == {(70, 50): (1, 1), (66, 80): (1, 3), (300, 150): (1, 4), (56, 201): (2, 2)}
    assert out[2].ages.tolist() == [2 if (k, i) == (1, 1) else 1 if (k, i) == (2, 2) else 0
                                    for k, i in zip(out[2].classes, out[2].track_ids)]


def test_vote_linker_reaches_back_to_the_frame_with_the_surest_existence():
    """P = 2: a car hidden in frame 1 votes surest for frame 0 and continues its track there; the nearer frame is
    assigned first, so an instance continued through frame 1 is not taken again through frame 0."""
    frames = [
        voted(0, [(1, 0.9, (50, 50), [(0.0, 0, 0), (0.0, 0, 0)]), (1, 0.9, (200, 50), [(0.0, 0, 0), (0.0, 0, 0)])]),
        voted(1, [(1, 0.9, (205, 50), [(0.9, 201, 50), (0.8, 200, 50)])]),
        voted(2, [(1, 0.9, (55, 50), [(0.2, 0, 0), (0.9, 51, 50)]),
                  (1, 0.9, (208, 50), [(0.9, 206, 50), (0.6, 201, 50)]),
                  (1, 0.9, (250, 60), [(0.3, 0, 0), (0.7, 201, 51)])]),
    ]
    out = track_sequence(frames, VOTES)
    assert linked(out[1]) == {(205, 50): (1, 2)}
    assert linked(out[2]) == {(55, 50): (1, 1), (208, 50): (1, 2), (250, 60): (1, 3)}


def test_vote_linker_needs_votes():
    linker = VoteLinker(VOTES)
    plain = voted(0, [(1, 0.9, (50, 50), [(0.1, 0, 0)])])
    plain.votes = None
    with pytest.raises(MotsError, match="frame 0: detections without votes for previous frames"):
        linker.step(plain)
    linker.step(FrameDetections.empty(1, 1, H, W, 1))  # an empty frame is fine


# ----------------------------------------------------------------------- through outputs, messages, a stream

@pytest.fixture(scope="module")
def votes_checkpoint(tmp_path_factory):
    """A narrow pixel model with votes for one previous frame: most pixels car (class bias), existence logits
    around +2, offsets of a few output pixels, random temporal weights (so that the window matters)."""
    from mots_ros.models import save_checkpoint
    from mots_ros.models.pixel_embedding import build_pixel_embedding

    torch.manual_seed(0)
    net = build_pixel_embedding(aspp_maps=16, decoder_maps=16, branch_maps=8, embedding_dim=4, samples=50,
                                past_votes=1, offset_unit=2.0, temporal_init="random")
    with torch.no_grad():
        net.class_head[-1].bias.copy_(torch.tensor([0.0, 4.0, 0.0]))
        net.past_head[-1].bias.copy_(torch.tensor([0.0, 0.0, 2.0]))
    path = tmp_path_factory.mktemp("votes") / "votes.pt"
    save_checkpoint(path, net)
    return str(path)


CLUSTERS = ClusterConfig(ClassClustering(3, 400), ClassClustering(3, 400))
LOOSE = TrackerConfig(car=ClassParams(0.0, 0.0, vote_distance_threshold=0.3),
                      pedestrian=ClassParams(0.0, 0.0, vote_distance_threshold=0.3), linker="votes")


def stream_ids(checkpoint, images, split=None, recorder=None):
    """(frame, class, track id) of every tracked cluster, the frames pushed in one pass or in two pieces at
    ``split`` (as a node that pauses: nothing is reset)."""
    from mots_ros.engine.build import build_stream

    stream = build_stream(checkpoint, "cpu", clustering=CLUSTERS)
    stream.model.recorder = recorder
    linker = VoteLinker(LOOSE)
    out = []
    for start, stop in ([(0, len(images))] if split is None else [(0, split), (split, len(images))]):
        for i, image in enumerate(images[start:stop], start):
            out += [linker.step(d) for d in stream.push(image, i, i)]
    out += [linker.step(d) for d in stream.flush()]
    return [(t.frame, int(k), int(i)) for t in out for k, i in zip(t.classes, t.track_ids)]


def test_a_stream_split_at_any_frame_links_as_one_pass_and_its_saved_votes_link_the_same(votes_checkpoint, tmp_path):
    from mots_ros.models.pixel_embedding.outputs import OutputRecorder, load_outputs

    images = random_frames(6, 48, 64, seed=3)
    recorder = OutputRecorder()
    whole = stream_ids(votes_checkpoint, images, recorder=recorder)
    assert len({i for _, _, i in whole}) < len(whole) and max(f for f, _, _ in whole) == 5  # tracks span frames
    for split in range(1, len(images)):
        assert stream_ids(votes_checkpoint, images, split) == whole, split
    recorder.save(str(tmp_path / "seq.npz"))
    saved = load_outputs(str(tmp_path / "seq.npz"))
    assert saved[0].past.shape == (3, 12, 16) and saved[0].centre == "mass"
    again = track_sequence([f.cluster(CLUSTERS) for f in saved], LOOSE)
    assert [(t.frame, int(k), int(i)) for t in again for k, i in zip(t.classes, t.track_ids)] == whole


def test_streamed_votes_equal_the_batch_forward(votes_checkpoint):
    from mots_ros.engine.build import build_stream
    from mots_ros.models.pixel_embedding.model import past_probabilities
    from mots_ros.models.pixel_embedding.outputs import OutputRecorder

    images = random_frames(4, 48, 64, seed=4)
    stream = build_stream(votes_checkpoint, "cpu")
    recorder = stream.model.recorder = OutputRecorder()
    for i, image in enumerate(images):
        stream.push(image, i, i)
    stream.flush()
    batch = torch.stack([torch.from_numpy(im).permute(2, 0, 1).float() / 255 for im in images])
    with torch.inference_mode():
        want = stream.model(batch).past
    np.testing.assert_allclose(np.stack([f.past for f in recorder.frames]),
                               np.stack([past_probabilities(p) for p in want]), atol=1e-4)


def test_votes_travel_in_the_detections_message():
    pytest.importorskip("rclpy")
    from std_msgs.msg import Header

    from mots_ros.ros.convert import DetectionsError, detections_to_msg, msg_to_detections

    det = voted(4, [(1, 0.9, (50, 50), [(0.25, 40.5, 60.25)]), (2, 0.8, (200, 100), [(0.75, 1, 2)])])
    back = msg_to_detections(detections_to_msg(det, Header()), 4)
    np.testing.assert_array_equal(back.votes, det.votes)
    msg = detections_to_msg(det, Header())
    msg.detections[1].votes = msg.detections[1].votes[:3]
    with pytest.raises(DetectionsError, match=r"vote sizes \[3, 6\]"):
        msg_to_detections(msg, 4)

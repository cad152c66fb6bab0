"""The nodes running a pixel-embedding checkpoint (thesis 6.2): inference_node clusters with the clustering of a
tuned parameter file (`mots tune --outputs`), tracker_node links with the cluster linker, and the tracks equal the
ROS-free core's on the same frames; switched to the vote linker at run time (the model votes for one previous
frame, thesis 6.3.2), the votes travel in the Detections messages and the tracks equal the core's vote linker's. A
clustering parameter changed at run time applies to the next frame."""

import numpy as np
import pytest
import rclpy
import torch
from std_msgs.msg import Header

from helpers import running_graph, synth_frames
from mots_ros.models.pixel_embedding import build_pixel_embedding
from mots_ros.models.streaming import StreamingModel
from mots_ros.models.weights import build_from_checkpoint, save_checkpoint
from mots_ros.ros import replay
from mots_ros.ros.convert import ns_stamp, rgb_to_image
from mots_ros.ros.launcher import LaunchArgs
from mots_ros.tracking.cluster import ClassClustering, ClusterConfig, dump_cluster_config, load_cluster_config
from mots_ros.tracking.config import ClassParams, TrackerConfig, dump_tracker_config, load_tracker_config
from mots_ros.tracking.linking import ClusterLinker, VoteLinker

FRAMES = 6
SIZE = (64, 96)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(checkpoint, tuned parameter file): a narrow random net whose class branch calls most pixels car, voting for
    one previous frame (existence logits around +2), at its input size of 64x96; clustering and linking values
    unlike the defaults."""
    root = tmp_path_factory.mktemp("pixel_nodes")
    torch.manual_seed(0)
    net = build_pixel_embedding("mobilenet_v3_large", aspp_maps=16, decoder_maps=16, branch_maps=8, embedding_dim=4,
                                temporal_layers=1, min_size=SIZE[0], max_size=SIZE[1], past_votes=1, offset_unit=2.0)
    with torch.no_grad():
        net.class_head[-1].bias.copy_(torch.tensor([0.0, 4.0, 0.0]))
        net.past_head[-1].bias.copy_(torch.tensor([0.0, 0.0, 2.0]))
    save_checkpoint(root / "pixel.pt", net)
    clustering = ClusterConfig(ClassClustering(4, 96), ClassClustering(3, 96), position_scale=12.0)
    params = ClassParams(detection_score_threshold=0.3, new_track_score_threshold=0.4, association_threshold=50.0,
                         vote_distance_threshold=0.3)
    (root / "tuned.yaml").write_text(dump_cluster_config(clustering) + dump_tracker_config(
        TrackerConfig("greedy", params, params, "clusters")))
    return str(root / "pixel.pt"), str(root / "tuned.yaml")


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    return synth_frames(tmp_path_factory.mktemp("synth"), FRAMES, size=SIZE)


@pytest.fixture(scope="module")
def graph(files, tmp_path_factory):
    checkpoint, tuned = files
    args = LaunchArgs(extra_params=[tuned], overrides={"inference_node": {"device": "cpu", "checkpoint": checkpoint}})
    yield from running_graph(args, tmp_path_factory.mktemp("logs"), domain_offset=7, overlay=False)


def _replay(client, frames, t0):
    client.result = replay.ReplayResult()
    msgs = ((i, rgb_to_image(rgb, Header(stamp=ns_stamp(t0 + i * 100_000_000), frame_id="cam")))
            for i, rgb in enumerate(frames))
    return replay.tracks_in_order(client.replay(msgs, timeout=120))


def _core_tracks(files, frames, linker=ClusterLinker):
    checkpoint, tuned = files
    model = build_from_checkpoint(checkpoint)
    model.clustering = load_cluster_config(tuned)
    stream = StreamingModel(model, device="cpu")
    tracker = linker(load_tracker_config(tuned))
    dets = [d for i, rgb in enumerate(frames) for d in stream.push(rgb, i, i)] + stream.flush()
    return [tracker.step(d) for d in dets]


def _set_parameter(client, node: str, name: str, value) -> bool:
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    cli = client.create_client(SetParameters, f"{node}/set_parameters")
    assert cli.wait_for_service(timeout_sec=30)
    future = cli.call_async(SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()]))
    rclpy.spin_until_future_complete(client, future, timeout_sec=30)
    client.destroy_client(cli)
    return future.result().results[0].successful


def _assert_same(got, want):
    assert sum(len(t.track_ids) for t in want) > 0
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
        np.testing.assert_array_equal(a.classes, b.classes)
        assert [m["counts"] for m in a.masks] == [m["counts"] for m in b.masks]


def test_pixel_nodes_match_the_core_and_take_clustering_at_run_time(graph, files, frames):
    g, client = graph
    _assert_same(_replay(client, frames, 1_700_000_000_000_000_000), _core_tracks(files, frames))
    assert _set_parameter(client, "/tracker_node", "linker", "votes")  # a new tracker: ids restart
    want = _core_tracks(files, frames, VoteLinker)
    assert any(t.ages.any() for t in want)  # some votes continued tracks
    _assert_same(_replay(client, frames, 1_700_000_050_000_000_000), want)
    assert not _set_parameter(client, "/inference_node", "clustering.upsampling", "cubic")  # refused
    assert _set_parameter(client, "/inference_node", "clustering.car.min_cluster_size", 10 ** 6)
    assert _set_parameter(client, "/inference_node", "clustering.pedestrian.min_cluster_size", 10 ** 6)
    got = _replay(client, frames, 1_700_000_100_000_000_000)
    assert len(got) == FRAMES and sum(len(t.track_ids) for t in got) == 0  # no cluster is that large

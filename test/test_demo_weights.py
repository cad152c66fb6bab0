"""The shipped demo weights: present, at most 20 MB, loadable with weights_only, and tuned tracker parameters."""
import os

import torch

from mots_ros.engine.build import (DEMO_CHECKPOINT, DEMO_TRACKER, PIXEL_CHECKPOINT, PIXEL_TRACKER, VOTES_CHECKPOINT,
                                   VOTES_TRACKER, demo_files)
from mots_ros.models.weights import build_from_checkpoint
from mots_ros.tracking.config import load_tracker_config


def test_demo_weights_ship_and_load():
    assert os.path.getsize(DEMO_CHECKPOINT) <= 20 * 1024 * 1024
    ckpt = torch.load(DEMO_CHECKPOINT, map_location="cpu", weights_only=True)
    assert ckpt["config"]["assoc_dim"] == 128 and ckpt["config"]["temporal_layers"] == 2
    model = build_from_checkpoint(DEMO_CHECKPOINT)
    assert model.receptive_field == 5
    cfg = load_tracker_config(DEMO_TRACKER)
    assert cfg.car.detection_score_threshold > 0 and cfg.pedestrian.keep_alive >= 0


def test_pixel_demo_weights_ship_with_their_tuned_clustering_and_linking():
    from mots_ros.tracking.cluster import ClusterConfig, load_cluster_config

    assert demo_files("pixel_embedding") == (PIXEL_CHECKPOINT, PIXEL_TRACKER)
    assert os.path.getsize(PIXEL_CHECKPOINT) <= 20 * 1024 * 1024
    model = build_from_checkpoint(PIXEL_CHECKPOINT, model_type="pixel_embedding")
    assert model.config["backbone"] == "mobilenet_v3_large" and model.config["embedding_dim"] == 16
    clustering, linking = load_cluster_config(PIXEL_TRACKER), load_tracker_config(PIXEL_TRACKER)
    assert isinstance(clustering, ClusterConfig) and linking.linker == "clusters"


def test_vote_weights_ship_with_their_tuned_vote_linker():
    from mots_ros.tracking.cluster import load_cluster_config

    assert os.path.getsize(VOTES_CHECKPOINT) <= 20 * 1024 * 1024
    model = build_from_checkpoint(VOTES_CHECKPOINT, model_type="pixel_embedding")
    assert model.past_frames == 1 and model.offset_head is not None
    model.clustering = load_cluster_config(VOTES_TRACKER)  # its clustering uses the centre votes
    assert model.clustering.features == "both" and load_tracker_config(VOTES_TRACKER).linker == "votes"


def test_fast_pixel_weights_ship_with_their_tuned_file():
    from mots_ros.engine.build import SEPARABLE_CHECKPOINT, SEPARABLE_TRACKER
    from mots_ros.tracking.cluster import load_cluster_config

    assert os.path.getsize(SEPARABLE_CHECKPOINT) <= 20 * 1024 * 1024
    model = build_from_checkpoint(SEPARABLE_CHECKPOINT, model_type="pixel_embedding")
    assert model.config["separable"] and model.config["output_stride"] == 8
    clustering = load_cluster_config(SEPARABLE_TRACKER)
    assert clustering.subsample == 1 and load_tracker_config(SEPARABLE_TRACKER).linker == "clusters"

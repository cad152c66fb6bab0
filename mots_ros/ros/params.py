"""The parameters of the two nodes: names, defaults and descriptions in one table each (no rclpy import), so the
nodes declare them, ``config/tracker.yaml`` documents them and the launch-file test checks against them."""
from __future__ import annotations

from dataclasses import fields

from mots_ros.tracking.cluster import ClusterConfig, cluster_from_dict, cluster_params, describe, nested
from mots_ros.tracking.config import CLASSES, DESCRIPTIONS, ClassParams

QOS_CHOICES = ("sensor_data", "reliable")
TRANSPORT_CHOICES = ("raw", "compressed")
TRANSPORT_DESCRIPTION = ("'raw': sensor_msgs/Image on the image topic; 'compressed': sensor_msgs/CompressedImage "
                         "(jpeg or png) on the image topic + '/compressed' (image_transport's convention)")

DIAGNOSTICS = {
    "diagnostics_period": (1.0, "Seconds between two /diagnostics reports (0: none)."),
    "latency_warn_ms": (0.0, "The /diagnostics status turns WARN while the p95 processing time per message "
                             "exceeds this, in ms (0: never)."),
}

# clustering of pixel-embedding models (thesis 6.2.4), changeable at run time; TrackR-CNN models do not use them
CLUSTERING = {f"clustering.{k}": (v, (f"{k.split('.')[0]}: " if "." in k else "") + describe(k))
              for k, v in cluster_params(ClusterConfig()).items()}

INFERENCE = {
    "model_type": ("auto", "Model family: 'auto' (the checkpoint's arch), 'trackrcnn' (thesis ch. 3-4) or "
                           "'pixel_embedding' (thesis 6.2); a checkpoint of another family is an error naming the "
                           "file."),
    "checkpoint": ("", "Checkpoint written by `mots train` (loaded with weights_only=True); empty: the shipped "
                       "demo weights."),
    "device": ("auto", "'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'; an unavailable GPU falls back "
                       "to the CPU with a warning."),
    "input_min_size": (0, "Shorter image side after resizing, in pixels (0: the checkpoint's)."),
    "input_max_size": (0, "Longer image side limit after resizing, in pixels (0: the checkpoint's)."),
    "score_threshold": (0.0, "Detections scoring below this are not published (0: all the model returns, as "
                              "`mots run`; the tracker applies its own per-class thresholds)."),
    "lookahead": (-1, "Future frames in a frame's window of the 3D convolutions: detections of frame t are "
                      "published when frame t+k arrives (-1: the checkpoint's, the thesis's centred window; "
                      "0: causal, no delay)."),
    "precision": ("float32", "Inference precision: 'float32', 'bfloat16' (autocast: about 2x faster on CPUs with "
                             "AVX-512 BF16 or AMX, and on GPUs) or 'float16' (CUDA only; float32 on the CPU, with a "
                             "warning)."),
    "image_qos": ("sensor_data", "QoS of the image subscription: 'sensor_data' (best effort, depth 1: stale "
                                 "frames are dropped) or 'reliable' (depth 1)."),
    "image_transport": ("raw", f"Camera input: {TRANSPORT_DESCRIPTION}."),
    **CLUSTERING,
    **DIAGNOSTICS,
}

TRACKER = {
    "linker": ("association", DESCRIPTIONS["linker"]),
    "matching": ("hungarian", DESCRIPTIONS["matching"]),
    **{f"{c}.{f.name}": (f.default, f"{c}: {DESCRIPTIONS[f.name]}") for c in CLASSES for f in fields(ClassParams)},
    "image_qos": ("sensor_data", "QoS of the image subscription used for the overlay: 'sensor_data' or "
                                 "'reliable'."),
    "image_transport": ("raw", f"Camera input of the overlay: {TRANSPORT_DESCRIPTION}."),
    "overlay_alpha": (0.5, "Opacity of the mask colours in the overlay image."),
    "image_cache": (30, "Camera images kept to draw the overlay of detections that arrive later (lookahead)."),
    **DIAGNOSTICS,
}

NODES = {"inference_node": INFERENCE, "tracker_node": TRACKER}


def tracker_dict(values: dict) -> dict:
    """The ``ros__parameters`` mapping of :func:`mots_ros.tracking.config.from_dict` from flat node parameters
    (``car.keep_alive`` -> ``{'car': {'keep_alive': ...}}``)."""
    out: dict = {"linker": values["linker"], "matching": values["matching"]}
    for c in CLASSES:
        out[c] = {f.name: values[f"{c}.{f.name}"] for f in fields(ClassParams)}
    return out


def clustering_config(values: dict) -> ClusterConfig:
    """The :class:`ClusterConfig` of the inference node's flat ``clustering.*`` parameter values (MotsError on a
    bad value)."""
    prefix = "clustering."
    return cluster_from_dict(nested({k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}),
                             "inference_node parameters: ")


def declare_all(node, table: dict) -> dict:
    """Declare every parameter of ``table`` on the rclpy ``node`` with its description; returns their values."""
    from rcl_interfaces.msg import ParameterDescriptor

    for name, (default, description) in table.items():
        node.declare_parameter(name, default, ParameterDescriptor(description=description))
    return read_all(node, table)


def read_all(node, table: dict) -> dict:
    """The current values of the parameters of ``table`` on ``node``."""
    return {name: node.get_parameter(name).value for name in table}


def image_qos(name: str, depth: int = 1):
    """QoS profile of an image subscription: depth 1 by default (a late frame replaces the waiting one), best
    effort for 'sensor_data', reliable for 'reliable'."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    if name not in QOS_CHOICES:
        raise ValueError(f"image_qos must be one of {QOS_CHOICES}, got {name!r}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.BEST_EFFORT if name == "sensor_data" else
                      ReliabilityPolicy.RELIABLE)


def image_input(node, transport: str):
    """(message type, topic, decoder to RGB) of a node's camera subscription for ``image_transport``: the remapped
    ``image`` topic for 'raw', that topic + ``/compressed`` for 'compressed'."""
    from mots_ros.ros.convert import CompressedImage, Image, compressed_to_rgb, image_to_rgb

    if transport not in TRANSPORT_CHOICES:
        raise ValueError(f"image_transport must be one of {TRANSPORT_CHOICES}, got {transport!r}")
    if transport == "raw":
        return Image, "image", image_to_rgb
    return CompressedImage, node.resolve_topic_name("image") + "/compressed", compressed_to_rgb

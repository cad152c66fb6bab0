"""Tracker parameters (thesis ch. 3: TrackR-CNN association; 4.1: tuned per class by random search).

Stored as a ROS 2 parameter file, so the same YAML feeds ``mots track`` and the tracker node::

    /**/tracker_node:        # tracker_node in any namespace (a bare tracker_node: is the root namespace's only)
      ros__parameters:
        matching: hungarian
        car:
          detection_score_threshold: 0.8
          ...
        pedestrian:
          ...

Floats must be written with a decimal point (``1.0``, not ``1``): ROS 2 parameters are typed and the node would
reject an integer for a float parameter, so the loader does too.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields

from mots_ros import MotsError

NODE_NAME = "tracker_node"
MATCHING = ("hungarian", "greedy")
LINKERS = ("association", "clusters", "votes")
CLASSES = ("car", "pedestrian")
# tracker_node parameters that are not tracker settings
NODE_ONLY = ("image_qos", "image_transport", "overlay_alpha", "image_cache", "diagnostics_period",
             "latency_warn_ms")

DESCRIPTIONS = {
    "linker": "Tracker: 'association' (TrackR-CNN detections, thesis ch. 3), 'clusters' (pixel-embedding "
              "clusters linked greedily on their representatives, thesis 6.2) or 'votes' (clusters of a model with "
              "votes for previous frames, linked by the centres they vote for, thesis 6.3.2).",
    "matching": "Association method: 'hungarian' (least total cost) or 'greedy' (cheapest remaining pair first); "
                "the cluster linker is always greedy.",
    "detection_score_threshold": "Detections scoring below this are ignored.",
    "new_track_score_threshold": "An unmatched detection starts a new track only if it scores at least this.",
    "association_threshold": "A detection continues a track only if their combined cost is at most this.",
    "keep_alive": "Frames a track may go unmatched and still be continued.",
    "reid_weight": "Cost weight of the euclidean distance between the association embeddings (cluster linker: "
                   "the smallest distance between the representatives of the two clusters).",
    "mask_iou_weight": "Cost weight of one minus the mask IoU with the track's last mask.",
    "box_center_weight": "Cost weight of the box centre distance divided by the image diagonal.",
    "vote_distance_threshold": "Vote linker: a cluster continues the instance of a previous frame whose centre its "
                               "vote for that frame is assigned to only if they are at most this far apart, as a "
                               "fraction of the image diagonal; farther clusters start new tracks.",
}


@dataclass
class ClassParams:
    """Association parameters of one class; see :data:`DESCRIPTIONS`."""

    detection_score_threshold: float = 0.8
    new_track_score_threshold: float = 0.9
    association_threshold: float = 1.0
    keep_alive: int = 5
    reid_weight: float = 1.0
    mask_iou_weight: float = 0.0
    box_center_weight: float = 0.0
    vote_distance_threshold: float = 0.05


@dataclass
class TrackerConfig:
    """Linker, matching mode and per-class parameters (classes are tracked independently)."""

    matching: str = "hungarian"
    car: ClassParams = field(default_factory=ClassParams)
    pedestrian: ClassParams = field(default_factory=ClassParams)
    linker: str = "association"

    def __post_init__(self):
        validate(self)

    def for_class(self, class_id: int) -> ClassParams:
        """Parameters of class 1 (car) or 2 (pedestrian)."""
        return self.car if class_id == 1 else self.pedestrian


def _check_class(p: ClassParams, key: str) -> None:
    for f in fields(ClassParams):
        v = getattr(p, f.name)
        name = f"{key}.{f.name}"
        if f.type == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise MotsError(f"{name}: expected an integer, got {v!r}")
            if v < 0:
                raise MotsError(f"{name}: must be >= 0, got {v}")
            continue
        if isinstance(v, bool) or not isinstance(v, float):
            hint = f" (write {v}.0: ROS 2 parameters are typed)" if type(v) is int else ""
            raise MotsError(f"{name}: expected a float, got {v!r}{hint}")
        if not math.isfinite(v) or v < 0:
            raise MotsError(f"{name}: must be a finite number >= 0, got {v}")
        if f.name.endswith("score_threshold") and v > 1:
            raise MotsError(f"{name}: a score threshold must lie in [0, 1], got {v}")


def validate(cfg: TrackerConfig) -> None:
    """Raise :class:`MotsError` naming the key of a bad value."""
    if cfg.matching not in MATCHING:
        raise MotsError(f"matching: expected one of {', '.join(MATCHING)}, got {cfg.matching!r}")
    if cfg.linker not in LINKERS:
        raise MotsError(f"linker: expected one of {', '.join(LINKERS)}, got {cfg.linker!r}")
    for key in CLASSES:
        p = getattr(cfg, key)
        if not isinstance(p, ClassParams):
            raise MotsError(f"{key}: expected class parameters, got {p!r}")
        _check_class(p, key)


def from_dict(params: dict, where: str = "") -> TrackerConfig:
    """A config from the ``ros__parameters`` mapping; missing keys keep their defaults, unknown keys are errors."""
    if not isinstance(params, dict):
        raise MotsError(f"{where}ros__parameters: expected a mapping, got {params!r}")
    unknown = set(params) - {"linker", "matching", *CLASSES, *NODE_ONLY}
    if unknown:
        raise MotsError(f"{where}unknown key {sorted(unknown)[0]!r} (expected linker, matching, car, pedestrian)")
    classes = {}
    names = [f.name for f in fields(ClassParams)]
    for key in CLASSES:
        sub = params.get(key, {})
        if not isinstance(sub, dict):
            raise MotsError(f"{where}{key}: expected a mapping of class parameters, got {sub!r}")
        bad = set(sub) - set(names)
        if bad:
            raise MotsError(f"{where}unknown key '{key}.{sorted(bad)[0]}' (expected {', '.join(names)})")
        classes[key] = ClassParams(**sub)
    try:
        return TrackerConfig(params.get("matching", "hungarian"), classes["car"], classes["pedestrian"],
                             params.get("linker", "association"))
    except MotsError as e:
        raise MotsError(f"{where}{e}") from None


def read_node_params(path: str | os.PathLike, node: str = NODE_NAME, required: bool = True) -> dict:
    """The ``ros__parameters`` of ``node`` (any namespace) over those of ``/**`` in a ROS 2 parameter file; other
    nodes' sections are ignored. No section of ``node``: a MotsError, or ``{}`` unless ``required``."""
    from mots_ros.yaml_io import read_yaml

    where = f"{path}: "
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise MotsError(f"{where}expected '{node}:' (or '/**:') with 'ros__parameters:' below it")
    sections = [k for k in doc if k == "/**"] + [k for k in doc if str(k).rstrip("/").split("/")[-1] == node]
    if not sections:
        if not required:
            return {}
        raise MotsError(f"{where}no '{node}:' or '/**:' section (found {', '.join(map(str, doc))})")
    params: dict = {}
    for k in sections:
        body = doc[k]
        if not isinstance(body, dict) or set(body) != {"ros__parameters"}:
            raise MotsError(f"{where}{k}: expected exactly one key 'ros__parameters'")
        for name, value in (body["ros__parameters"] or {}).items():
            if isinstance(value, dict) and isinstance(params.get(name), dict):
                params[name] = {**params[name], **value}
            else:
                params[name] = value
    return params


def load_tracker_config(path: str | os.PathLike) -> TrackerConfig:
    """Load a ROS 2 parameter file: the ``ros__parameters`` of ``tracker_node`` (any namespace) over those of
    ``/**``; sections of other nodes are ignored."""
    return from_dict(read_node_params(path), f"{path}: ")


def _yaml_float(x: float) -> str:
    """repr() with a decimal point, so that YAML 1.1 (PyYAML) and ROS 2 read a float."""
    s = repr(float(x))
    return s.replace("e", ".0e", 1) if "e" in s and "." not in s else s


def dump_tracker_config(cfg: TrackerConfig) -> str:
    """The YAML text of :func:`save_tracker_config`: a comment line per parameter."""
    out = [f"/**/{NODE_NAME}:", "  ros__parameters:", f"    # {DESCRIPTIONS['linker']}", f"    linker: {cfg.linker}",
           f"    # {DESCRIPTIONS['matching']}", f"    matching: {cfg.matching}"]
    for key in CLASSES:
        out.append(f"    {key}:")
        for f in fields(ClassParams):
            v = getattr(getattr(cfg, key), f.name)
            out += [f"      # {DESCRIPTIONS[f.name]}",
                    f"      {f.name}: {v if f.type == 'int' else _yaml_float(v)}"]
    return "\n".join(out) + "\n"


def save_tracker_config(cfg: TrackerConfig, path: str | os.PathLike) -> None:
    """Write ``cfg`` as a ROS 2 parameter file for ``tracker_node`` in any namespace (``/**/tracker_node``)."""
    validate(cfg)
    with open(path, "w") as fh:
        fh.write(dump_tracker_config(cfg))

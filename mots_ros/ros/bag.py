"""Rosbags (rosbag2, mcap) with the pure-Python ``rosbags`` library: `mots bag from-sequence`, `mots bag evaluate`,
`mots bag record` and `mots bag to-txt`.

Frames and stamps: `from-sequence` writes the frames of a folder in order, stamped ``start + i / rate``, and
stores the sequence name and first frame number in the bag's metadata. Evaluation maps an image stamp back to
a frame by its position among the bag's image messages (first frame + index), so bags recorded elsewhere work
too; tracks carry the stamp of their image."""
from __future__ import annotations

import json
import os
import tempfile

from tqdm import tqdm

from mots_ros import MotsError

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
COMPRESSED_SUFFIX = "/compressed"  # image_transport: the compressed images of camera topic T are on T/compressed
TRACKS_TYPE = "mots_ros/msg/TrackedInstances"
META_SEQUENCE, META_FIRST = "mots_ros.sequence", "mots_ros.first_frame"


def _typestore():
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    from mots_ros.ros.launcher import share_path

    types = {}
    for name in ("RleMask", "Detection", "Detections", "TrackedInstance", "TrackedInstances"):
        with open(share_path(f"msg/{name}.msg")) as fh:
            types.update(get_types_from_msg(fh.read(), f"mots_ros/msg/{name}"))
    store.register(types)
    return store


def from_sequence(images: str, out: str, rate: float = 10.0, topic: str = "/camera/image_raw",
                  frame_id: str = "camera", start: float = 0.0, compressed: bool = False) -> int:
    """Write the frames of ``images`` (``*.png`` / ``*.jpg``) as rgb8 images on ``topic`` to a new mcap bag, or with
    ``compressed`` as jpeg CompressedImages on ``topic/compressed``; returns the count."""
    from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

    from mots_ros.data.windows import list_frames, read_image
    from mots_ros.outputs import output_file
    from mots_ros.ros.names import check_topic_name

    if not 0 < rate <= 1e9:  # also nan; above 1e9 two frames get the same nanosecond stamp
        raise MotsError(f"--rate must lie in (0, 1e9] frames per second, got {rate}")
    check_topic_name(topic, "--topic")
    frames = list_frames(images)
    if not frames:
        raise MotsError(f"{images}: no *.png or *.jpg frames")
    store = _typestore()
    Header, Time = (store.types[t] for t in ("std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    msgtype = COMPRESSED_TYPE if compressed else IMAGE_TYPE
    if os.path.exists(out):
        raise MotsError(f"{out}: exists; choose a new bag path")
    output_file(out, "bag", make_folder=True)
    try:
        writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
    except WriterError as e:
        raise MotsError(f"{out}: cannot write bag ({e})") from None
    try:
        conn = writer.add_connection(topic + COMPRESSED_SUFFIX if compressed else topic, msgtype, typestore=store)
        first = next(iter(frames))
        writer.set_custom_data(META_SEQUENCE, os.path.basename(os.path.normpath(images)))
        writer.set_custom_data(META_FIRST, str(first))
        for i, path in enumerate(tqdm(frames.values(), desc="bag", unit="frame")):
            ns = int(round(start * 1e9)) + int(round(i * 1e9 / rate))
            header = Header(stamp=Time(sec=ns // 10 ** 9, nanosec=ns % 10 ** 9), frame_id=frame_id)
            msg = _image_msg(store, msgtype, header, read_image(path))
            writer.write(conn, ns, store.serialize_cdr(msg, msgtype))
    finally:
        writer.close()
    return len(frames)


def _image_msg(store, msgtype: str, header, rgb):
    """A rosbags Image (rgb8) or CompressedImage (jpeg) message of an RGB frame."""
    import numpy as np

    from mots_ros.ros.convert import JPEG_FORMAT, encode_jpeg

    if msgtype == COMPRESSED_TYPE:
        return store.types[msgtype](header=header, format=JPEG_FORMAT,
                                    data=np.frombuffer(encode_jpeg(rgb), np.uint8))
    return store.types[msgtype](header=header, height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8",
                                is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.reshape(-1))


def _open(path: str):
    from rosbags.rosbag2 import Reader, ReaderError

    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, OSError, ValueError, KeyError) as e:
        raise MotsError(f"{path}: cannot read bag ({type(e).__name__}: {e})") from None
    return reader


def _topic_of(reader, path: str, topic: str | None, *msgtypes: str) -> tuple[str, str]:
    """(topic, message type) of the bag's only topic of one of ``msgtypes``, or of ``topic``."""
    topics = {c.topic: c.msgtype for c in reader.connections if c.msgtype in msgtypes}
    kinds = " or ".join(msgtypes)
    if topic is not None:
        if topic not in topics:
            raise MotsError(f"{path}: no {kinds} messages on {topic} (found: {sorted(topics) or 'none'})")
        return topic, topics[topic]
    if len(topics) != 1:
        raise MotsError(f"{path}: {len(topics)} topics of {kinds} ({sorted(topics)}); choose one with --topic")
    return topics.popitem()


def bag_metadata(reader) -> dict:
    """The bag's custom metadata (rosbag2 version 9), {} when none."""
    meta = getattr(getattr(reader, "storage", None), "metadata", None)
    return dict(getattr(meta, "custom", None) or {})


def read_images(path: str, topic: str | None = None):
    """(topic, message type, first frame, sequence name or None, list of raw CDR bytes) of the bag's images
    (Image or CompressedImage); a bag that cannot be read gives a MotsError naming it."""

    reader = _open(path)
    try:
        topic, msgtype = _topic_of(reader, path, topic, IMAGE_TYPE, COMPRESSED_TYPE)
        meta = bag_metadata(reader)
        conns = [c for c in reader.connections if c.topic == topic]
        try:
            raw = [bytes(data) for _, _, data in reader.messages(connections=conns)]
        except Exception as e:  # rosbags / mcap / sqlite errors of a truncated or corrupt file
            raise MotsError(f"{path}: corrupt bag ({type(e).__name__}: {e})") from None
    finally:
        reader.close()
    if not raw:
        raise MotsError(f"{path}: no messages on {topic}")
    try:
        first = int(meta.get(META_FIRST, 0))
    except ValueError:
        raise MotsError(f"{path}: metadata {META_FIRST}={meta[META_FIRST]!r} is not a frame number") from None
    return topic, msgtype, first, meta.get(META_SEQUENCE), raw


def image_messages(path: str, raw: list, first: int, msgtype: str = IMAGE_TYPE):
    """(frame, sensor_msgs Image or CompressedImage) of raw CDR images; undecodable messages are errors naming
    bag and index."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CompressedImage, Image

    cls = CompressedImage if msgtype == COMPRESSED_TYPE else Image
    for i, data in enumerate(raw):
        try:
            msg = deserialize_message(data, cls)
        except Exception as e:
            raise MotsError(f"{path}: image message {i} cannot be decoded ({e})") from None
        yield first + i, msg


def replay_bag(bag: str, out: str, topic: str | None = None, checkpoint: str | None = None,
               tracker_config: str | None = None, device: str = "auto", realtime: bool = False,
               use_running: bool = False, namespace: str = "", overlay: bool = False):
    """Replay ``bag``'s images through the node graph (started with logs in ``out/logs`` unless
    ``use_running``); returns (first frame, sequence name from the bag or None, ReplayResult)."""
    import rclpy

    from mots_ros.engine.build import DEMO_TRACKER
    from mots_ros.ros.launcher import Graph, LaunchArgs
    from mots_ros.ros.replay import Replayer, init

    topic, msgtype, first, name, raw = read_images(bag, topic)
    camera, transport = camera_of(bag, topic, msgtype)
    # the demo weights go with their tuned tracker parameters (as in `mots run`); replay without --realtime uses
    # a reliable image subscription, so that nothing is lost on the way
    extra = [tracker_config] if tracker_config else [] if checkpoint else [DEMO_TRACKER]
    overrides = {node: {"image_transport": transport} for node in ("inference_node", "tracker_node")}
    if not realtime:
        overrides["inference_node"]["image_qos"] = "reliable"
    args = LaunchArgs(camera_topic=camera, checkpoint=checkpoint or "", device=device, namespace=namespace,
                      extra_params=extra, overrides=overrides)
    graph = None if use_running else Graph(args, log_dir=os.path.join(out, "logs")).start()
    check = graph.check if graph else None
    init()
    try:
        node = Replayer(camera, namespace, overlay=overlay, transport=transport)
        node.wait_for_graph(check=check)
        with tqdm(total=len(raw), desc="replay", unit="frame") as bar:
            result = node.replay(image_messages(bag, raw, first, msgtype), realtime=realtime, check=check,
                                 progress=lambda r: bar.update(1))
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
        if graph:
            graph.stop()
    return first, name, result


def camera_of(bag: str, topic: str, msgtype: str) -> tuple[str, str]:
    """(camera topic of the nodes, image_transport) of a bag's image topic: compressed images must be on
    ``CAMERA/compressed``."""
    if msgtype != COMPRESSED_TYPE:
        return topic, "raw"
    if not topic.endswith(COMPRESSED_SUFFIX) or topic == COMPRESSED_SUFFIX:
        raise MotsError(f"{bag}: compressed images on {topic}, not on CAMERA{COMPRESSED_SUFFIX} (image_transport's "
                        f"convention, which the nodes subscribe)")
    return topic[:-len(COMPRESSED_SUFFIX)], "compressed"


def transport_line(t: dict) -> str:
    if not t["received"]:
        return f"frames published {t['published']}, none received"
    rejected = f" ({t['rejected_by_nodes']} rejected by the nodes)" if t.get("rejected_by_nodes") else ""
    return (f"frames published {t['published']}, received {t['received']}, dropped {t['dropped']}{rejected}; "
            f"latency image -> tracks p50 {t['latency_ms_p50']:.0f} ms, p95 {t['latency_ms_p95']:.0f} ms; "
            f"{t['fps']:.2f} frames/s")


def score_result(result, name: str, first_last: tuple[int, int], gt: str, out: str) -> dict:
    """Write the tracks as ``out/results/NAME.txt`` and score them against ``gt`` with `mots eval`."""
    from mots_ros.data import formats
    from mots_ros.eval.evaluate import evaluate as evaluate_dirs
    from mots_ros.ros.replay import tracks_in_order
    from mots_ros.tracking.detections_io import write_tracks

    res_dir = os.path.join(out, "results")
    os.makedirs(res_dir, exist_ok=True)
    write_tracks(os.path.join(res_dir, f"{name}.txt"), tracks_in_order(result))
    seqmap = os.path.join(out, f"{name}.seqmap")
    formats.write_seqmap({name: first_last}, seqmap)
    return evaluate_dirs(gt, res_dir, seqmap)


def _sequence_of(bag: str, seqs: dict, seqmap: str) -> str:
    """The seqmap sequence a bag holds: the name in its metadata, else the seqmap's only sequence."""
    reader = _open(bag)
    name = bag_metadata(reader).get(META_SEQUENCE)
    reader.close()
    if name in seqs:
        return name
    if len(seqs) == 1:
        return next(iter(seqs))
    raise MotsError(f"{seqmap}: cannot tell which of its sequences {bag} holds; pass --sequence")


def evaluate(bag: str, gt: str, seqmap: str, realtime: bool = False, json_out: str | None = None,
             checkpoint: str | None = None, tracker_config: str | None = None, topic: str | None = None,
             sequence: str | None = None, device: str = "auto", out: str | None = None, use_running: bool = False,
             namespace: str = "") -> dict:
    """`mots bag evaluate`: replay, write KITTI MOTS txt, score with `mots eval`; the evaluation dict with a
    ``transport`` section (also written to ``json_out``)."""
    from mots_ros.data import formats
    from mots_ros.eval.evaluate import nan_to_none
    from mots_ros.eval.report import format_table

    seqs = formats.read_seqmap(seqmap)
    if sequence is not None and sequence not in seqs:
        raise MotsError(f"{seqmap}: no sequence {sequence!r} (has {', '.join(seqs)})")
    name = sequence or _sequence_of(bag, seqs, seqmap)
    out = out or tempfile.mkdtemp(prefix="mots_bag_")
    _, _, result = replay_bag(bag, out, topic, checkpoint, tracker_config, device, realtime, use_running, namespace)
    scores = score_result(result, name, seqs[name], gt, out)
    print(format_table(scores, fields=("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "TP", "FP", "FN", "IDS")))
    transport = result.transport()
    print("\n" + transport_line(transport))
    print(f"results: {os.path.join(out, 'results')}")
    scores = nan_to_none(scores)
    scores["transport"] = transport
    if json_out:
        with open(json_out, "w") as fh:
            json.dump(scores, fh, indent=1)
    return scores


def record(out: str, topics: tuple[str, ...] = ("/tracks",), duration: float | None = None) -> dict[str, int]:
    """`mots bag record`: write the messages of ``topics`` (tracks, images, detections) as they arrive to a new
    mcap bag, until Ctrl-C or ``duration`` seconds; returns the message count per topic."""
    import time

    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from rosbags.rosbag2 import StoragePlugin, Writer

    from mots_ros.ros.replay import init

    types = {"mots_ros/msg/TrackedInstances", "mots_ros/msg/Detections", IMAGE_TYPE, COMPRESSED_TYPE}
    store = _typestore()
    if os.path.exists(out):
        raise MotsError(f"{out}: exists; choose a new bag path")
    init()
    node = Node("mots_bag_record")
    counts = dict.fromkeys(topics, 0)
    writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        pending = set(topics)
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            for topic in list(pending):  # subscribe each topic once its type is known from a publisher
                found = [t for name, ts in node.get_topic_names_and_types() if name == topic for t in ts]
                if not found:
                    continue
                if found[0] not in types:
                    raise MotsError(f"{topic}: type {found[0]} cannot be recorded (supported: {sorted(types)})")
                conn = writer.add_connection(topic, found[0], typestore=store)
                msgtype = _rclpy_type(found[0])

                def write(data, conn=conn, topic=topic):
                    writer.write(conn, time.time_ns(), data)
                    counts[topic] += 1

                node.create_subscription(msgtype, topic, write, 100, raw=True)
                pending.discard(topic)
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C
        pass
    finally:
        writer.close()
        node.destroy_node()
        rclpy.try_shutdown()
    for topic in pending:
        print(f"mots bag record: nothing was published on {topic}")
    return counts


def _rclpy_type(name: str):
    import importlib

    pkg, kind, cls = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), cls)


def tracks_to_txt(tracks_bag: str, images_bag: str, out_dir: str, topic: str | None = None,
                  sequence: str | None = None) -> str:
    """`mots bag to-txt`: the TrackedInstances of a recorded bag as KITTI MOTS txt, frames numbered by the
    images bag that was replayed (same mapping as `mots bag evaluate`); returns the written file."""
    from rclpy.serialization import deserialize_message

    from mots_ros.msg import TrackedInstances
    from mots_ros.ros.convert import msg_to_tracks, stamp_ns
    from mots_ros.tracking.detections_io import write_tracks

    _, msgtype, first, name, raw = read_images(images_bag)
    frames = {stamp_ns(msg.header.stamp): frame for frame, msg in image_messages(images_bag, raw, first, msgtype)}
    reader = _open(tracks_bag)
    tracks = {}
    try:
        topic, _ = _topic_of(reader, tracks_bag, topic, TRACKS_TYPE)
        conns = [c for c in reader.connections if c.topic == topic]
        for i, (_, _, data) in enumerate(reader.messages(connections=conns)):
            msg = deserialize_message(bytes(data), TrackedInstances)
            frame = frames.get(stamp_ns(msg.header.stamp))
            if frame is None:
                raise MotsError(f"{tracks_bag}: message {i} on {topic} is stamped {stamp_ns(msg.header.stamp)}, "
                                f"which no image of {images_bag} has")
            tracks[frame] = msg_to_tracks(msg, frame)
    finally:
        reader.close()
    name = sequence or name or "0000"
    path = os.path.join(out_dir, f"{name}.txt")
    os.makedirs(out_dir, exist_ok=True)
    write_tracks(path, [tracks[f] for f in sorted(tracks)])
    return path

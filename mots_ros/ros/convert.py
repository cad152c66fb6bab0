"""Conversions between ROS 2 messages and the core's types: sensor_msgs/Image and CompressedImage <-> numpy,
mots_ros/Detections <->
:class:`FrameDetections`, mots_ros/TrackedInstances <-> :class:`FrameTracks`, and the KITTI MOTS instance image.

Arrays go into messages as bytes (``arr.tobytes()``: ~0.1 ms for a 1242x375 image, where assigning the array
itself costs ~100 ms) and ``array.array`` for float sequences (no per-element type checks)."""
from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image

from mots_ros import MotsError
from mots_ros.data import rle
from mots_ros.data.formats import FormatError, check_rles
from mots_ros.msg import Detection, Detections, RleMask, TrackedInstance, TrackedInstances
from mots_ros.tracking.types import FrameDetections, FrameTracks

CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}
JPEG_FORMAT = "rgb8; jpeg compressed bgr8"  # the format field image_transport's compressed publisher writes
JPEG_QUALITY = 95


class ImageError(MotsError):
    """An image message the nodes cannot use (encoding, size, step or data length)."""


class DetectionsError(MotsError):
    """A Detections message the tracker cannot use (image size, mask, embedding); the node skips it."""


def stamp_ns(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def ns_stamp(ns: int) -> Time:
    """The ROS time of ``ns`` nanoseconds; MotsError outside the int32 seconds of builtin_interfaces/Time (a
    message with such a stamp was published without an error and never arrived)."""
    sec = int(ns // 1_000_000_000)
    if not -2**31 <= sec < 2**31:
        raise MotsError(f"stamp {ns} ns is outside the range of a ROS time (int32 seconds)")
    return Time(sec=sec, nanosec=int(ns % 1_000_000_000))


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB view/copy of an rgb8, bgr8, mono8, rgba8 or bgra8 image, with non-negative strides
    (``torch.from_numpy`` rejects a reversed view); :class:`ImageError` otherwise."""
    enc = msg.encoding.lower()
    if enc not in CHANNELS:
        raise ImageError(f"unsupported encoding {msg.encoding!r} (supported: {', '.join(CHANNELS)})")
    h, w, c = msg.height, msg.width, CHANNELS[enc]
    if h == 0 or w == 0:
        raise ImageError(f"empty image ({w}x{h})")
    if msg.step < w * c:
        raise ImageError(f"step {msg.step} is less than width {w} x {c} bytes per pixel")
    if len(msg.data) < msg.step * (h - 1) + w * c:
        raise ImageError(f"{len(msg.data)} bytes of data for {h} rows of step {msg.step}")
    buf = np.frombuffer(msg.data, np.uint8)
    pixels = np.lib.stride_tricks.as_strided(buf, (h, w, c), (msg.step, c, 1))
    if enc == "rgb8":
        return pixels
    if enc == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if enc == "rgba8":
        return pixels[:, :, :3]
    return np.ascontiguousarray(pixels[:, :, 2::-1])  # bgr8, bgra8: ~1 ms for 1242x375


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a jpeg or png CompressedImage (``format`` as image_transport writes it, e.g.
    ``rgb8; jpeg compressed bgr8``, or just ``jpeg``), decoded with OpenCV; :class:`ImageError` naming the problem
    for another format (also compressedDepth), empty data or data that does not decode."""
    import cv2  # imported on first use: ~0.3 s, paid only by compressed input

    fmt = msg.format.lower()
    kind = "png" if "png" in fmt else "jpeg" if "jpeg" in fmt or "jpg" in fmt else None
    if kind is None or "compresseddepth" in fmt:
        raise ImageError(f"unsupported compressed format {msg.format!r} (supported: jpeg, png)")
    if len(msg.data) == 0:
        raise ImageError(f"empty {kind} data")
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"{len(msg.data)} bytes of {kind} data do not decode (corrupt or truncated)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """The jpeg bytes of an (H, W, 3) uint8 RGB image (OpenCV, as image_transport's compressed publisher)."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError(f"OpenCV could not encode a {rgb.shape} image as jpeg")
    return data.tobytes()


def rgb_to_compressed(rgb: np.ndarray, header) -> CompressedImage:
    """A jpeg CompressedImage of an RGB image with ``header``."""
    return CompressedImage(header=header, format=JPEG_FORMAT, data=encode_jpeg(rgb))


def rgb_to_image(rgb: np.ndarray, header, encoding: str = "rgb8") -> Image:
    """An rgb8 (or mono16 for a 2-D uint16 array) image message with ``header``."""
    arr = np.ascontiguousarray(rgb)
    msg = Image(header=header, height=arr.shape[0], width=arr.shape[1], encoding=encoding)
    msg.is_bigendian = int(arr.dtype.byteorder == ">")
    msg.step = arr.shape[1] * arr.itemsize * (arr.shape[2] if arr.ndim == 3 else 1)
    msg.data = arr.tobytes()
    return msg


def _rle_msg(m: dict) -> RleMask:
    counts = m["counts"]
    return RleMask(height=int(m["size"][0]), width=int(m["size"][1]),
                   counts=counts.decode("ascii") if isinstance(counts, bytes) else counts)


def _rle_dict(m: RleMask) -> dict:
    return {"size": [m.height, m.width], "counts": m.counts.encode("ascii")}


def _floats(values) -> np.ndarray:
    return np.frombuffer(values, np.float32) if isinstance(values, array.array) else np.asarray(values, np.float32)


def _embedding(d: Detection) -> np.ndarray:
    return _floats(d.embedding)


def _per_detection(ds: list, field: str, row: int, least: int, expected: str) -> np.ndarray | None:
    """(N, -1, row) values of the detections' float array ``field``, None when none has any; a
    :class:`DetectionsError` for some without, different sizes, a size that is no multiple of ``row`` or below
    ``least`` (``expected`` says what is), or NaN."""
    values = [_floats(getattr(d, field)) for d in ds]
    sizes = sorted({len(v) for v in values})
    if sizes == [0]:
        return None
    if len(sizes) > 1 or sizes[0] % row or sizes[0] < least:
        raise DetectionsError(f"{field.rstrip('s')} sizes {sizes} in one message ({expected} expected)")
    out = np.stack(values).reshape(len(ds), -1, row)
    if not np.isfinite(out).all():
        raise DetectionsError(f"{field} hold NaN or infinite values")
    return out


def _checked_masks(msg: Detections) -> list[dict]:
    for i, d in enumerate(msg.detections):
        m = d.mask
        if (m.height, m.width) != (msg.height, msg.width):
            raise DetectionsError(f"detection {i}: mask of {m.width}x{m.height} in an image of "
                                  f"{msg.width}x{msg.height}")
        if not m.counts.isascii():
            raise DetectionsError(f"detection {i}: mask RLE is not ASCII")
    masks = [_rle_dict(d.mask) for d in msg.detections]
    try:
        check_rles([m["counts"] for m in masks], msg.height, msg.width, lambda i: f"detection {i}: mask")
    except FormatError as e:
        raise DetectionsError(str(e)) from None
    return masks


def detections_to_msg(det: FrameDetections, header) -> Detections:
    out = []
    for i in range(len(det)):
        d = Detection(class_id=int(det.classes[i]), score=float(det.scores[i]), mask=_rle_msg(det.masks[i]))
        d.box = det.boxes[i].astype(np.float32)
        d.embedding = array.array("f", det.embeddings[i].astype(np.float32).tobytes())
        if det.representatives is not None:
            d.representatives = array.array("f", det.representatives[i].astype(np.float32).tobytes())
        if det.votes is not None:
            d.votes = array.array("f", det.votes[i].astype(np.float32).tobytes())
        out.append(d)
    return Detections(header=header, height=det.height, width=det.width, embedding_dim=det.embeddings.shape[1],
                      detections=out)


def msg_to_detections(msg: Detections, frame: int, dim: int = 0) -> FrameDetections:
    """The detections of a message, checked as far as the tracker relies on them (:class:`DetectionsError`
    naming the detection: image size 0, a mask of another size or with invalid RLE runs, embeddings of
    different or zero length or not of the message's ``embedding_dim``, bad representatives or votes); ``dim``:
    the embedding size of a frame without detections when the message gives none."""
    if not msg.detections:
        return FrameDetections.empty(frame, stamp_ns(msg.header.stamp), msg.height, msg.width,
                                     msg.embedding_dim or dim)
    ds = msg.detections
    if msg.height == 0 or msg.width == 0:
        raise DetectionsError(f"{len(ds)} detections in an image of {msg.width}x{msg.height}")
    embs = [_embedding(d) for d in ds]
    if len(embs[0]) == 0 or any(len(e) != len(embs[0]) for e in embs):
        sizes = sorted({len(e) for e in embs})
        raise DetectionsError(f"embedding sizes {sizes} in one message (one non-zero size expected)")
    if msg.embedding_dim and len(embs[0]) != msg.embedding_dim:
        raise DetectionsError(f"embeddings of size {len(embs[0])}, but embedding_dim {msg.embedding_dim}")
    emb = np.stack(embs)
    if not np.isfinite(emb).all():
        raise DetectionsError("embeddings hold NaN or infinite values")
    dim = emb.shape[1]
    reps = _per_detection(ds, "representatives", dim, dim,
                          f"one non-zero multiple of the embedding size {dim}")
    votes = _per_detection(ds, "votes", 3, 6, "one size 3 x (1 + P), P >= 1,")
    masks = _checked_masks(msg)
    return FrameDetections(frame, stamp_ns(msg.header.stamp), msg.height, msg.width,
                           np.stack([np.asarray(d.box, np.float32) for d in ds]),
                           np.array([d.score for d in ds], np.float32),
                           np.array([d.class_id for d in ds], np.int64), masks, emb, reps, votes)


def tracks_to_msg(tracks: FrameTracks, header) -> TrackedInstances:
    out = []
    for i in range(len(tracks)):
        t = TrackedInstance(track_id=int(tracks.track_ids[i]), class_id=int(tracks.classes[i]),
                            score=float(tracks.scores[i]), mask=_rle_msg(tracks.masks[i]), age=int(tracks.ages[i]))
        t.box = tracks.boxes[i].astype(np.float32)
        out.append(t)
    return TrackedInstances(header=header, height=tracks.height, width=tracks.width, instances=out)


def msg_to_tracks(msg: TrackedInstances, frame: int) -> FrameTracks:
    ins = msg.instances
    return FrameTracks(frame, stamp_ns(msg.header.stamp), msg.height, msg.width,
                       np.array([t.track_id for t in ins], np.int64), np.array([t.class_id for t in ins], np.int64),
                       np.array([t.score for t in ins], np.float32),
                       np.stack([np.asarray(t.box, np.float32) for t in ins]) if ins else np.zeros((0, 4), np.float32),
                       [_rle_dict(t.mask) for t in ins], np.array([t.age for t in ins], np.int64))


def instance_ids(tracks: FrameTracks) -> np.ndarray:
    """KITTI MOTS ids class*1000+track id."""
    return tracks.classes * 1000 + tracks.track_ids


def instance_image(tracks: FrameTracks) -> np.ndarray:
    """(H, W) uint16 map: class*1000+track id on each (disjoint) mask, 0 elsewhere (the KITTI MOTS png)."""
    return rle.label_map(tracks.masks, instance_ids(tracks), tracks.height, tracks.width, np.uint16)

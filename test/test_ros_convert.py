"""Message conversions: every supported encoding and row padding, clear errors for bad images, and lossless
round trips of detections and tracks through their messages (serialised as DDS would)."""
import array

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from mots_ros import MotsError
from mots_ros.data import rle
from mots_ros.msg import Detections, TrackedInstances
from mots_ros.ros.convert import (DetectionsError, ImageError, detections_to_msg, image_to_rgb, instance_image,
                                  msg_to_detections, msg_to_tracks, ns_stamp, rgb_to_image, stamp_ns, tracks_to_msg)
from mots_ros.tracking.types import FrameDetections, FrameTracks

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def _image(data: np.ndarray, encoding: str, pad: int = 0):
    rows = np.pad(data.reshape(data.shape[0], -1), ((0, 0), (0, pad)))
    msg = rgb_to_image(RGB, Header())
    msg.encoding, msg.step, msg.data = encoding, rows.shape[1], rows.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 3])
def test_every_encoding_gives_rgb(pad):
    np.testing.assert_array_equal(image_to_rgb(_image(RGB, "rgb8", pad)), RGB)
    np.testing.assert_array_equal(image_to_rgb(_image(RGB[:, :, ::-1], "bgr8", pad)), RGB)
    alpha = np.full((5, 7, 1), 9, np.uint8)
    np.testing.assert_array_equal(image_to_rgb(_image(np.concatenate([RGB, alpha], 2), "rgba8", pad)), RGB)
    np.testing.assert_array_equal(image_to_rgb(_image(np.concatenate([RGB[:, :, ::-1], alpha], 2), "bgra8", pad)), RGB)
    gray = RGB[:, :, 0]
    np.testing.assert_array_equal(image_to_rgb(_image(gray, "mono8", pad)), np.repeat(gray[:, :, None], 3, 2))


def test_bad_images_name_the_problem():
    with pytest.raises(ImageError, match="unsupported encoding '16UC1'"):
        image_to_rgb(_image(RGB, "16UC1"))
    short = _image(RGB, "rgb8")
    short.data = short.data[:-1]
    with pytest.raises(ImageError, match="104 bytes of data for 5 rows of step 21"):
        image_to_rgb(short)
    with pytest.raises(ImageError, match="step 20 is less than width 7 x 3"):
        m = _image(RGB, "rgb8")
        m.step = 20
        image_to_rgb(m)
    with pytest.raises(ImageError, match=r"empty image \(0x0\)"):
        image_to_rgb(rgb_to_image(np.zeros((0, 0, 3), np.uint8), Header()))


def _masks(n, h=20, w=30):
    m = np.zeros((h, w, n), np.uint8)
    for i in range(n):
        m[2 + i:8 + 2 * i, 3 * i:3 * i + 5, i] = 1
    return rle.encode(m)


def test_detections_round_trip_through_serialised_messages():
    det = FrameDetections(3, 1_700_000_000_123_456_789, 20, 30, RNG.random((3, 4), np.float32) * 20,
                          np.array([0.9, 0.5, 0.25], np.float32), np.array([1, 2, 2]), _masks(3),
                          RNG.standard_normal((3, 128)).astype(np.float32))
    header = Header(stamp=ns_stamp(det.stamp), frame_id="cam")
    msg = deserialize_message(serialize_message(detections_to_msg(det, header)), Detections)
    back = msg_to_detections(msg, 3)
    assert msg.header.frame_id == "cam" and stamp_ns(msg.header.stamp) == det.stamp
    assert (back.height, back.width, back.frame, back.stamp) == (20, 30, 3, det.stamp)
    for field in ("boxes", "scores", "classes", "embeddings"):
        np.testing.assert_array_equal(getattr(back, field), getattr(det, field))
    assert [m["counts"] for m in back.masks] == [m["counts"] for m in det.masks]
    empty = msg_to_detections(detections_to_msg(FrameDetections.empty(4, 5, 20, 30, 128), header), 4, dim=128)
    assert len(empty) == 0 and empty.embeddings.shape == (0, 128) and (empty.height, empty.width) == (20, 30)


def test_tracks_round_trip_and_instance_image():
    masks = _masks(2)
    tracks = FrameTracks(0, 42, 20, 30, np.array([7, 1]), np.array([1, 2]), np.array([0.9, 0.8], np.float32),
                         np.array([[0, 2, 5, 8], [3, 3, 8, 10]], np.float32), masks, np.array([4, 0]))
    msg = deserialize_message(serialize_message(tracks_to_msg(tracks, Header(stamp=ns_stamp(42)))), TrackedInstances)
    back = msg_to_tracks(msg, 0)
    for field in ("track_ids", "classes", "scores", "boxes", "ages"):
        np.testing.assert_array_equal(getattr(back, field), getattr(tracks, field))
    image = instance_image(back)
    assert image.dtype == np.uint16 and image.shape == (20, 30)
    dense = rle.decode(masks)
    assert set(np.unique(image)) == {0, 1007, 2001}
    np.testing.assert_array_equal(image == 1007, dense[:, :, 0].astype(bool))
    np.testing.assert_array_equal(image == 2001, dense[:, :, 1].astype(bool) & ~dense[:, :, 0].astype(bool))
    mono = rgb_to_image(image, Header(), "mono16")
    assert (mono.encoding, mono.step, len(mono.data)) == ("mono16", 60, 1200)


def test_converted_images_have_strides_torch_accepts():
    import torch

    for msg in (_image(RGB[:, :, ::-1], "bgr8", 3), _image(np.concatenate([RGB, RGB[:, :, :1]], 2), "bgra8")):
        torch.from_numpy(image_to_rgb(msg))  # a reversed (negative-stride) view raised ValueError here


def _detections_msg():
    det = FrameDetections(0, 7, 20, 30, np.zeros((3, 4), np.float32), np.array([0.9, 0.5, 0.25], np.float32),
                          np.array([1, 2, 2]), _masks(3), np.ones((3, 8), np.float32))
    return detections_to_msg(det, Header(stamp=ns_stamp(7)))


def _set_embedding(values):
    def edit(msg):
        msg.detections[1].embedding = array.array("f", values)
    return edit


def _set(index, **fields):
    def edit(msg):
        for name, value in fields.items():
            setattr(msg.detections[index].mask if name in ("counts", "height", "width") else msg, name, value)
    return edit


# one row per class of malformed Detections message: (edit of a valid message, what the error says)
BAD_DETECTIONS = [
    ("mixed embedding lengths", _set_embedding([1.0] * 5), r"embedding sizes \[5, 8\] in one message"),
    ("empty embeddings", lambda m: [setattr(d, "embedding", array.array("f")) for d in m.detections],
     r"embedding sizes \[0\]"),
    ("NaN embedding", _set_embedding([float("nan")] * 8), "NaN or infinite"),
    ("non-ASCII RLE", _set(0, counts="ü0"), "detection 0: mask RLE is not ASCII"),
    ("garbage RLE", _set(1, counts="~~~~"), r"detection 1: mask: RLE string '~~~~' is corrupt: it holds characters"),
    ("RLE ends inside a count", _set(2, counts="oo"), "detection 2: mask: .* count that is unterminated"),
    ("over-long RLE", _set(0, counts="0" + "o" * 40 + "1"), "detection 0: mask: .* beyond 32 bits"),
    ("runs beyond the image", _set(0, counts="0ZZ1"), r"detection 0: mask: .* has runs of \d+ pixels in all, not"),
    ("runs short of the image", _set(0, counts="52"), r"detection 0: mask: .* has runs of 7 pixels in all, not "
                                                      r"height\*width = 20\*30"),
    ("mask size differs from the header", _set(1, height=10), "detection 1: mask of 30x10 in an image of 30x20"),
    ("header 0x0", lambda m: (setattr(m, "height", 0), setattr(m, "width", 0)), r"3 detections in an image of 0x0"),
]


@pytest.mark.parametrize("edit, error", [row[1:] for row in BAD_DETECTIONS], ids=[row[0] for row in BAD_DETECTIONS])
def test_malformed_detections_messages_are_named(edit, error):
    msg = deserialize_message(serialize_message(_detections_msg()), Detections)
    edit(msg)
    with pytest.raises(DetectionsError, match=error):
        msg_to_detections(msg, 0)


def test_stamps_beyond_a_ros_time_are_refused():
    assert stamp_ns(ns_stamp(2**31 * 1_000_000_000 - 1)) == 2**31 * 1_000_000_000 - 1
    with pytest.raises(MotsError, match="outside the range of a ROS time"):
        ns_stamp(2_200_000_000_000_000_000)  # such a message was published without error and never arrived


def test_representatives_and_embedding_dim_travel_in_the_message():
    masks = rle.encode(np.stack([np.eye(4, 6, k, dtype=bool) for k in (0, 2)], axis=2))
    reps = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    det = FrameDetections(3, 30, 4, 6, np.zeros((2, 4), np.float32), np.array([0.9, 0.8], np.float32),
                          np.array([1, 2]), masks, reps.mean(1), reps)
    msg = deserialize_message(serialize_message(detections_to_msg(det, Header())), Detections)
    assert msg.embedding_dim == 4
    back = msg_to_detections(msg, 3)
    np.testing.assert_array_equal(back.representatives, reps)
    np.testing.assert_array_equal(back.embeddings, det.embeddings)
    empty = detections_to_msg(FrameDetections.empty(4, 40, 4, 6, 16), Header())
    assert msg_to_detections(empty, 4).embeddings.shape == (0, 16)  # the size travels without detections
    msg.detections[1].representatives = array.array("f", reps[1].ravel()[:8].tobytes())
    with pytest.raises(DetectionsError, match=r"representative sizes \[8, 12\]"):
        msg_to_detections(msg, 3)
    msg.detections[1].representatives = array.array("f", reps[1].ravel().tobytes())
    msg.embedding_dim = 5
    with pytest.raises(DetectionsError, match="embeddings of size 4, but embedding_dim 5"):
        msg_to_detections(msg, 3)


def _compressed(data: bytes, fmt: str):
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage(header=Header(frame_id="camera"), format=fmt, data=data)
    return deserialize_message(serialize_message(msg), CompressedImage)  # as a subscriber receives it


def _encoded(rgb: np.ndarray, pil_format: str, **options) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, pil_format, **options)
    return buf.getvalue()


def _pil_decoded(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


SCENE = np.repeat(np.repeat(RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8), 8, 0), 8, 1)  # 48x80, 8x8 blocks


def test_png_decodes_to_the_pil_reference_exactly():
    from mots_ros.ros.convert import compressed_to_rgb

    for rgb in (SCENE, SCENE[:, :, :1].repeat(3, 2)):
        data = _encoded(rgb, "PNG")
        np.testing.assert_array_equal(compressed_to_rgb(_compressed(data, "rgb8; png compressed bgr8")), rgb)
    grey = _encoded(SCENE[:, :, 0], "PNG")  # a mono png gives grey RGB
    np.testing.assert_array_equal(compressed_to_rgb(_compressed(grey, "png")), SCENE[:, :, :1].repeat(3, 2))


def test_jpeg_decodes_to_the_pil_reference_in_rgb_order():
    from mots_ros.ros.convert import JPEG_FORMAT, compressed_to_rgb, encode_jpeg

    for data in (encode_jpeg(SCENE), _encoded(SCENE, "JPEG", quality=90)):  # OpenCV's jpeg and PIL's
        out = compressed_to_rgb(_compressed(data, JPEG_FORMAT))
        np.testing.assert_array_equal(out, _pil_decoded(data))
        assert out.flags.c_contiguous and out.shape == SCENE.shape
    np.testing.assert_array_equal(compressed_to_rgb(_compressed(encode_jpeg(SCENE), "jpeg")),
                                  compressed_to_rgb(_compressed(encode_jpeg(SCENE), JPEG_FORMAT)))


@pytest.mark.parametrize("fmt, data, error", [
    ("jpeg", b"not an image at all", "19 bytes of jpeg data do not decode"),
    ("jpeg", "truncated", r"bytes of jpeg data do not decode \(corrupt or truncated\)"),
    ("png", "truncated", "bytes of png data do not decode"),
    ("rgb8; jpeg compressed bgr8", b"", "empty jpeg data"),
    ("16UC1; compressedDepth png", "png", "unsupported compressed format '16UC1; compressedDepth png'"),
    ("tiff", "png", "unsupported compressed format 'tiff' \\(supported: jpeg, png\\)"),
], ids=["garbage", "truncated-jpeg", "truncated-png", "empty", "depth", "tiff"])
def test_bad_compressed_images_name_the_problem(fmt, data, error):
    from mots_ros.ros.convert import compressed_to_rgb, encode_jpeg

    if data == "truncated":
        whole = encode_jpeg(SCENE) if "jpeg" in fmt else _encoded(SCENE, "PNG")
        data = whole[: len(whole) // 2]
    elif data == "png":
        data = _encoded(SCENE, "PNG")
    with pytest.raises(ImageError, match=error):
        compressed_to_rgb(_compressed(data, fmt))

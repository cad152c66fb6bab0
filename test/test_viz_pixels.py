"""`mots viz-pixels` (thesis 6.2, Fig. 6.7): PCA colours of embeddings with known principal directions, the class
map's colours, the figure from a saved outputs file and from a tiny random pixel checkpoint, bad input. CPU."""
import numpy as np
import pytest
import torch
from PIL import Image

from helpers import random_frames
from mots_ros.cli import main
from mots_ros.data import rle
from mots_ros.models.pixel_embedding import build_pixel_embedding
from mots_ros.models.pixel_embedding.outputs import FrameOutputs, OutputRecorder, load_outputs, save_outputs
from mots_ros.models.weights import save_checkpoint
from mots_ros.tracking.cluster import ClusterConfig
from mots_ros.viz.pixels import (CLASS_COLORS, EMPTY_COLOR, GAP, class_panel, figure_size, outputs_from_checkpoint,
                                 pca_rgb, title_height)

H, W, STRIDE = 64, 96, 4
h, w = H // STRIDE, W // STRIDE
CAR = (slice(4, 10), slice(3, 11))  # output pixels of the car in the saved outputs


def _panels(png):
    """The four (H, W, 3) panels of a figure, in reading order."""
    strip = title_height(H, W)
    fig = np.array(Image.open(png).convert("RGB"))
    return [fig[r * (strip + H + GAP) + strip:][:H, c * (W + GAP):][:, :W] for r in (0, 1) for c in (0, 1)]


# ---------------------------------------------------------------------------------------------- PCA

def test_pca_channels_follow_the_principal_directions_in_order():
    rng = np.random.default_rng(0)
    std = np.array([5.0, 0.1, 20.0, 1.0])  # principal directions: axis 2, then 0, then 3
    emb = (rng.normal(size=(20 * 30, 4)) * std).T.reshape(4, 20, 30)
    rgb, explained = pca_rgb(emb)
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    for channel, axis in enumerate((2, 0, 3)):
        corr = np.corrcoef(rgb[..., channel].ravel().astype(float), emb[axis].ravel())[0, 1]
        assert corr > 0.95, (channel, axis, corr)  # positive: each direction signed by its largest entry
    assert explained[0] > explained[1] > explained[2] > 0 and explained[0] > 0.9
    lo, hi = np.percentile(rgb[..., 0], [1, 99])
    assert lo <= 3 and hi >= 252  # the 1st..99th percentiles span 0..255


def test_two_groups_apart_on_one_axis_get_two_colours_and_the_fit_is_the_foreground():
    rng = np.random.default_rng(1)
    emb = rng.normal(scale=0.1, size=(4, 10, 20))
    emb[1, :, :10] += 4.0  # group A on the left, group B on the right: apart along axis 1 only
    emb[1, :, 10:] -= 4.0
    rgb, _ = pca_rgb(emb)
    red = rgb[..., 0].astype(int)
    assert red[:, :10].min() > 200 and red[:, 10:].max() < 55  # the separation lies in the first component
    assert abs(rgb[:, :10, 1].mean() - rgb[:, 10:, 1].mean()) < 40  # ... not in the others
    # background far off along axis 0: fitted on the foreground only, the groups keep their colours
    with_bg = np.concatenate([emb, np.zeros((4, 5, 20))], axis=1)
    with_bg[0, 10:] = -100.0
    fg = np.zeros(with_bg.shape[1:], bool)
    fg[:10] = True
    fitted, _ = pca_rgb(with_bg, fg)
    assert (fitted[:10] == rgb).all()
    everything, _ = pca_rgb(with_bg)
    assert not (everything[:10] == rgb).all()


def test_fewer_than_three_dimensions_leave_the_missing_channels_black():
    emb = np.stack([np.linspace(-1, 1, 30).reshape(5, 6), np.linspace(0, 3, 30).reshape(5, 6) ** 2])
    rgb, explained = pca_rgb(emb)
    assert (rgb[..., 2] == 0).all() and explained[2] == 0 and rgb[..., 0].max() == 255


# ---------------------------------------------------------------------------------------------- class map

def _outputs(frame, seed=0, classes=None):
    """FrameOutputs of a (H, W) image at stride 4: a car (distinct embedding) in CAR, else background."""
    rng = np.random.default_rng(seed)
    if classes is None:
        classes = np.zeros((h, w), np.int64)
        classes[CAR] = 1
    probs = np.full((3, h, w), 0.1, np.float32)
    np.put_along_axis(probs, classes[None], 0.8, axis=0)
    emb = rng.normal(scale=0.05, size=(4, h, w)).astype(np.float32)
    emb[:, classes == 1] += np.array([3.0, -2.0, 1.0, 0.5], np.float32)[:, None]
    return FrameOutputs(frame, frame, H, W, (H, W), STRIDE, probs, emb)


def test_class_panel_colours_exactly_the_pixels_of_each_class():
    classes = np.random.default_rng(2).integers(0, 3, size=(h, w))
    panel = class_panel(_outputs(0, classes=classes))
    assert panel.shape == (H, W, 3)
    rows, cols = np.mgrid[0:H, 0:W]
    expected = classes[rows // STRIDE, cols // STRIDE]  # each output pixel covers a 4x4 block at full resolution
    for cls in range(3):
        assert (panel[expected == cls] == CLASS_COLORS[cls]).all(), cls
        assert not (panel[expected != cls] == CLASS_COLORS[cls]).all(-1).any(), cls


# ---------------------------------------------------------------------------------------------- the command

@pytest.fixture
def saved(tmp_path):
    """(outputs file with frames 3 and 4, image folder with frames 3 and 4)."""
    path = tmp_path / "0000.npz"
    save_outputs(str(path), [_outputs(3, 0), _outputs(4, 1)])
    images = tmp_path / "img"
    images.mkdir()
    for frame, image in zip((3, 4), random_frames(2, H, W, seed=4)):
        Image.fromarray(image).save(images / f"{frame:06d}.png")
    return path, images


def _cluster_mask(outputs):
    """The (H, W) mask of the frame's one cluster (the thesis's clustering parameters)."""
    (mask,) = rle.decode(outputs.cluster(ClusterConfig()).masks).transpose(2, 0, 1).astype(bool)
    return mask


def test_figure_from_saved_outputs(saved, tmp_path, capsys):
    path, images = saved
    out = tmp_path / "fig.png"
    assert main(["viz-pixels", "--outputs", str(path), "--images", str(images), "--frame", "4",
                 "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    fig_h, fig_w = figure_size(H, W)
    assert (fig_h, fig_w) == (2 * (title_height(H, W) + H) + GAP, 2 * W + GAP)
    assert Image.open(out).size == (fig_w, fig_h) and Image.open(out).format == "PNG"
    photo, classes, embedded, clusters = _panels(out)
    image = np.array(Image.open(images / "000004.png"))
    assert (photo == image).all()
    frame4 = next(f for f in load_outputs(str(path)) if f.frame == 4)
    assert (classes == class_panel(frame4)).all()
    car = np.zeros((H, W), bool)
    car[CAR[0].start * STRIDE:CAR[0].stop * STRIDE, CAR[1].start * STRIDE:CAR[1].stop * STRIDE] = True
    assert len(np.unique(embedded[car].reshape(-1, 3), axis=0)) > 1  # the foreground's PCA colours vary
    mask = _cluster_mask(frame4)
    assert mask.sum() >= 100 and not mask[~car].any()
    changed = (clusters != image).any(-1)
    below = CAR[0].stop * STRIDE  # the label 'car 1' sits above the box
    assert changed[mask].all() and not changed[below:].any()  # the car's cluster, tinted; nothing else

    assert main(["viz-pixels", "--outputs", str(path), "--frame", "3", "--out", str(out)]) == 0  # no photo
    photo, _, _, clusters = _panels(out)
    assert (photo == EMPTY_COLOR).all() and (clusters[below:] == EMPTY_COLOR).all()
    mask = _cluster_mask(next(f for f in load_outputs(str(path)) if f.frame == 3))
    assert mask.sum() >= 100 and (clusters[mask] != EMPTY_COLOR).any(-1).all()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, one_torch_thread):
    """A tiny random pixel checkpoint and 5 frames. Random temporal weights after the decoder make a frame's
    outputs depend on its neighbours (after the encoder they would not: the random encoder's output is ~1e-9)."""
    root = tmp_path_factory.mktemp("pixel")
    torch.manual_seed(0)
    net = build_pixel_embedding(backbone="mobilenet_v3_large", aspp_maps=16, decoder_maps=16, branch_maps=8,
                                embedding_dim=4, samples=300, temporal_layers=1, temporal_init="random",
                                temporal_position="decoder")
    save_checkpoint(root / "pixel.pt", net)
    (root / "img").mkdir()
    for frame, image in enumerate(random_frames(5, H, W, seed=5)):
        Image.fromarray(image).save(root / "img" / f"{frame:06d}.png")
    return root / "pixel.pt", root / "img"


def test_figure_from_a_checkpoint(checkpoint, tmp_path):
    ckpt, images = checkpoint
    out = tmp_path / "fig.png"
    assert main(["viz-pixels", "--checkpoint", str(ckpt), "--images", str(images), "--frame", "2",
                 "--device", "cpu", "--out", str(out)]) == 0
    assert Image.open(out).size == figure_size(H, W)[::-1]
    assert (_panels(out)[0] == np.array(Image.open(images / "000002.png"))).all()


def test_checkpoint_outputs_equal_those_of_the_whole_sequence(checkpoint):
    from mots_ros.data.windows import list_frames, read_image
    from mots_ros.engine.build import build_stream

    ckpt, images = checkpoint
    stream = build_stream(str(ckpt), "cpu")
    stream.model.recorder = recorder = OutputRecorder()
    for frame, path in list_frames(str(images)).items():
        stream.push(read_image(path), frame, frame)
    stream.flush()
    whole = {o.frame: o for o in recorder.frames}
    for frame in (0, 3, 4):  # the first, one whose window starts later, the last (after a flush)
        outputs, detections, image = outputs_from_checkpoint(str(ckpt), str(images), frame, "cpu")
        assert outputs.frame == detections.frame == frame and image.shape == (H, W, 3)
        np.testing.assert_allclose(outputs.embeddings, whole[frame].embeddings, rtol=0, atol=1e-6)
        np.testing.assert_allclose(outputs.probs, whole[frame].probs, rtol=0, atol=1e-6)
    assert np.abs(whole[3].embeddings - whole[2].embeddings).max() > 1e-3  # frames differ


# ---------------------------------------------------------------------------------------------- bad input

def _fails(capsys, argv, *needles):
    assert main(["viz-pixels", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mots viz-pixels: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_missing_frames_and_wrong_files_are_errors_naming_them(saved, checkpoint, tmp_path, capsys):
    path, images = saved
    out = str(tmp_path / "fig.png")
    _fails(capsys, ["--outputs", str(path), "--frame", "7", "--out", out], str(path), "no outputs of frame 7")
    (images / "000004.png").unlink()
    _fails(capsys, ["--outputs", str(path), "--images", str(images), "--frame", "4", "--out", out],
           str(images), "no image of frame 4")
    ckpt, frames = checkpoint
    _fails(capsys, ["--checkpoint", str(ckpt), "--images", str(frames), "--frame", "9", "--out", out],
           str(frames), "no image of frame 9")
    _fails(capsys, ["--checkpoint", str(ckpt), "--frame", "1", "--out", out], "--checkpoint needs --images")
    trackrcnn = tmp_path / "trackrcnn.pt"
    torch.save({"arch": "trackrcnn", "model": {}, "config": {}}, trackrcnn)
    _fails(capsys, ["--checkpoint", str(trackrcnn), "--images", str(frames), "--frame", "1", "--out", out],
           str(trackrcnn), "a trackrcnn checkpoint")
    _fails(capsys, ["--outputs", str(ckpt), "--frame", "1", "--out", out], str(ckpt), "network outputs")
    _fails(capsys, ["--outputs", str(path), "--frame", "3", "--out", str(tmp_path / "no" / "fig.png")],
           "cannot write the figure")


def test_a_tuned_files_clustering_draws_the_clusters(saved, tmp_path):
    from mots_ros.tracking.cluster import ClassClustering, dump_cluster_config

    path, images = saved
    huge = ClassClustering(5, 10 ** 6)
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(dump_cluster_config(ClusterConfig(huge, huge)))  # no cluster of this frame is that large
    out = tmp_path / "fig.png"
    assert main(["viz-pixels", "--outputs", str(path), "--images", str(images), "--frame", "4", "--out", str(out),
                 "--tracker-config", str(tuned)]) == 0
    photo, _, _, clusters = _panels(out)
    assert (clusters == photo).all()  # nothing tinted: the file's clustering was used, not the defaults


# ---------------------------------------------------------------------------------------------- centre votes

def test_direction_field_hue_is_the_direction_and_value_the_length():
    from mots_ros.viz.votes import direction_rgb

    # (row, column) offsets: right, down, left, up at length 4, right at length 2, and one outside the mask
    offsets = np.array([[0, 4, 0, -4, 0, 0], [4, 0, -4, 0, 2, 3]], np.float64).reshape(2, 1, 6)
    mask = np.array([[True] * 5 + [False]])
    rgb, scale = direction_rgb(offsets, mask, scale=4.0)
    assert scale == 4.0
    right, down, left, up, short, outside = rgb[0].astype(int)
    assert tuple(right) == (255, 0, 0) and tuple(left) == (0, 255, 255)  # hue 0 and a half turn
    assert tuple(down) == (128, 255, 0) and tuple(up) == (128, 0, 255)  # hue a quarter and three quarters
    assert tuple(short) == (128, 0, 0) and tuple(outside) == (0, 0, 0)  # half the length: half the value
    _, auto = direction_rgb(offsets, mask)
    assert auto == pytest.approx(np.percentile([4, 4, 4, 4, 2], 99))  # the masked pixels' 99th percentile


def test_colour_wheel_uses_the_same_mapping():
    from mots_ros.viz.votes import colour_wheel

    wheel, disk = colour_wheel(21)
    assert disk[10, 10] and not disk[0, 0] and (wheel[~disk] == 0).all()
    assert tuple(wheel[10, 20]) == (255, 0, 0) and tuple(wheel[20, 10]) == (128, 255, 0)  # right: red, down
    assert tuple(wheel[10, 10]) == (0, 0, 0)  # no length at the centre


def _with_votes(outputs, centre):
    """``outputs`` whose car pixels all vote for the output position ``centre`` (row, column)."""
    rows, cols = np.mgrid[0:h, 0:w]
    offsets = np.stack([centre[0] - rows, centre[1] - cols]).astype(np.float32)
    outputs.offsets = offsets
    return outputs


def test_figure_with_centre_votes_adds_the_direction_field_and_the_votes(tmp_path):
    from mots_ros.viz.votes import DARKEN, direction_rgb

    centre = (6.0, 7.0)  # inside the car (output pixels)
    path = tmp_path / "0000.npz"
    save_outputs(str(path), [_with_votes(_outputs(2, 0), centre)])
    images = tmp_path / "img"
    images.mkdir()
    image = random_frames(1, H, W, seed=6)[0]
    Image.fromarray(image).save(images / "000002.png")
    out = tmp_path / "fig.png"
    assert main(["viz-pixels", "--outputs", str(path), "--images", str(images), "--frame", "2",
                 "--out", str(out)]) == 0
    assert Image.open(out).size == figure_size(H, W, rows=3)[::-1]
    strip = title_height(H, W)
    fig = np.array(Image.open(out).convert("RGB"))
    field, votes = (fig[2 * (strip + H + GAP) + strip:][:H, c * (W + GAP):][:, :W] for c in (0, 1))
    frame = load_outputs(str(path))[0]
    car = class_panel(frame) == CLASS_COLORS[1]
    car = car.all(-1)
    expected, _ = direction_rgb(frame.offsets, np.asarray(frame.probs.argmax(0) > 0))
    rows, cols = np.mgrid[0:H, 0:W]
    upsampled = expected[rows // STRIDE, cols // STRIDE]
    below = H // 2  # under the colour wheel in the top right corner
    assert (field[below:] == upsampled[below:]).all() and (field[below:][~car[below:]] == 0).all()
    assert len(np.unique(field[car].reshape(-1, 3), axis=0)) > 4  # many directions around the centre
    # every car pixel votes for one image point: (centre + 0.5) * stride - 0.5
    point = tuple(int(round((c + 0.5) * STRIDE - 0.5)) for c in centre)
    dimmed = (image.astype(np.float64) * DARKEN).astype(np.uint8)
    hit = (votes != dimmed).any(-1)
    assert hit.sum() == 1 and hit[point] and tuple(votes[point]) == tuple(CLASS_COLORS[1])


def test_non_finite_offsets_are_an_error_naming_the_frame(tmp_path, capsys):
    outputs = _with_votes(_outputs(5, 0), (6.0, 7.0))
    outputs.offsets[0, 0, 0] = np.nan
    path = tmp_path / "0000.npz"
    save_outputs(str(path), [outputs])
    assert main(["viz-pixels", "--outputs", str(path), "--frame", "5", "--out", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert "frame 5" in err and "offsets" in err and "Traceback" not in err

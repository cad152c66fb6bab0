"""Pixel-embedding family (thesis 6.2): losses on known embeddings, the sampler, identity initialisation,
streaming against the batch forward, checkpoints, a training step. CPU, tiny images and a narrow net."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import random_frames  # noqa: E402
from mots_ros import MotsError  # noqa: E402
from mots_ros.models import StreamingModel, build_from_checkpoint, save_checkpoint  # noqa: E402
from mots_ros.models.pixel_embedding import (PixelEmbeddingNet, PixelLoss, build_pixel_embedding,  # noqa: E402
                                             pixel_targets, sample_pixels)
from mots_ros.models.pixel_embedding.losses import IGNORE  # noqa: E402

H, W = 48, 80
NARROW = dict(aspp_maps=32, decoder_maps=32, branch_maps=16, embedding_dim=8, samples=200)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def narrow(**kw):
    torch.manual_seed(0)
    return build_pixel_embedding("mobilenet_v3_large", **{**NARROW, **kw})


def frames(n, seed=0):
    return random_frames(n, H, W, seed)


def batch(images):
    return torch.stack([torch.from_numpy(im).permute(2, 0, 1).float() / 255 for im in images])


# ---------------------------------------------------------------------------------------------- losses

def one_row(embeddings, instances, classes):
    """(logits, embeddings, classes, instances) of one frame, one row of pixels."""
    e = torch.tensor(embeddings, dtype=torch.float32).T[None, :, None, :]  # (1, D, 1, N)
    return (torch.zeros(1, 3, 1, e.shape[-1]), e, torch.tensor([[classes]]), torch.tensor([[instances]]))


def test_contrastive_over_all_pairs_equals_hand_computed():
    # background, a car and a pedestrian, one pixel each, 3-4-5 apart; the ignore pixel is far off and must not count
    logits, emb, classes, instances = one_row([[0, 0], [3, 0], [0, 4], [100, 100]], [0, 1001, 2001, IGNORE],
                                              [0, 1, 2, IGNORE])
    logits[0, 0, 0, 3] = 50.0  # a wrong, confident prediction on the ignore pixel: no effect on the class loss
    out = PixelLoss("contrastive", margin=8.0, weight=0.1, samples=3)(logits, emb, classes, instances)
    # 9 ordered pairs: 3 with itself (0), the others relu(8 - d)^2 for d = 3, 4, 5 twice each
    assert out["loss_embedding"].item() == pytest.approx(0.1 * 2 * (25 + 16 + 9) / 9)
    assert out["loss_class"].item() == pytest.approx(math.log(3))  # uniform logits over 3 classes


def test_triplet_alternatives_equal_hand_computed():
    # 1-d embeddings: background pixels at 0 and 1, car pixels at 5 and 7, margin 4; the 8 triplets lose
    # anchor 0: 0, 0; anchor 1: relu(1-4+4)=1, relu(1-6+4)=0; anchor 5: relu(2-5+4)=1, relu(2-4+4)=2; anchor 7: 0, 0
    args = one_row([[0], [1], [5], [7]], [0, 0, 1001, 1001], [0, 0, 1, 1])
    losses = {kind: PixelLoss(kind, margin=4.0, weight=1.0, quantile=q, samples=4)(*args)["loss_embedding"].item()
              for kind, q in (("batch_all", 0.5), ("p_quantile", 0.25))}
    assert losses["batch_all"] == pytest.approx(4 / 8)
    assert losses["p_quantile"] == pytest.approx((2 + 1) / 2)  # the ceil(0.25 * 8) = 2 hardest
    half = PixelLoss("p_quantile", margin=4.0, weight=1.0, quantile=0.5, samples=4)(*args)["loss_embedding"]
    assert half.item() == pytest.approx((2 + 1 + 1 + 0) / 4)
    with pytest.raises(ValueError, match="samples must be at most 300"):
        PixelLoss("batch_all", samples=5000)


def test_sampler_equal_per_instance_never_ignore():
    ids = np.array([0] * 100 + [1001] * 7 + [2001] * 30 + [IGNORE] * 50 + [1002] * 40)
    instances = torch.from_numpy(np.random.default_rng(0).permutation(ids))
    g = torch.Generator().manual_seed(0)
    picked = sample_pixels(instances, 80, "instance", g)
    got = instances[picked]
    assert (got != IGNORE).all()
    values, counts = torch.unique(got, return_counts=True)
    assert values.tolist() == [0, 1001, 1002, 2001] and counts.tolist() == [20] * 4
    per_pixel = torch.bincount(picked[got == 1001])  # 7 car pixels share 20 samples: each 2 or 3 times
    assert set(per_pixel[per_pixel > 0].tolist()) <= {2, 3} and (per_pixel > 0).sum() == 7
    assert len(torch.unique(picked[got == 0])) == 20  # enough pixels: none twice
    # balanced: 90 / 3 classes = 30 each, the car's 30 split over its 2 instances
    got = instances[sample_pixels(instances, 90, "balanced", g)]
    values, counts = torch.unique(got, return_counts=True)
    assert values.tolist() == [0, 1001, 1002, 2001] and counts.tolist() == [30, 15, 15, 30]
    picked = sample_pixels(instances, 60, "random", g)
    assert len(torch.unique(picked)) == 60 and (instances[picked] != IGNORE).all()


def test_pixel_targets_sample_output_pixel_centres():
    masks = torch.zeros(2, 8, 12, dtype=torch.uint8)
    masks[0, :4, :4] = 1  # a car in the top-left corner
    masks[1, 4:, 8:] = 1  # a pedestrian bottom-right
    ignore = torch.zeros(8, 12, dtype=torch.bool)
    ignore[:, 5:7] = True  # under the centres (column 6) of the middle output column
    classes, instances = pixel_targets(masks, torch.tensor([1005, 2003]), ignore, (2, 3), (8, 12), 4)
    assert instances.tolist() == [[1005, IGNORE, 0], [0, IGNORE, 2003]]
    assert classes.tolist() == [[1, IGNORE, 0], [0, IGNORE, 2]]


def test_centre_offsets_equal_hand_computed():
    """Centre-vote targets (thesis 6.3.1) on a 4 x 6 frame: a car in the top-left 2 x 2 pixels, an L-shaped
    pedestrian (rows 1-3 of column 3, row 3 of columns 4-5); background and ignore pixels get none."""
    from mots_ros.models.pixel_embedding.losses import centre_offsets

    ids = torch.zeros(1, 4, 6, dtype=torch.long)
    ids[0, :2, :2] = 1001
    ids[0, 1:4, 3] = 2001
    ids[0, 3, 4:6] = 2001
    ids[0, 0, 5] = IGNORE
    offsets, where = centre_offsets(torch.cat([ids, torch.zeros_like(ids)]))  # a second, empty frame
    assert where[0].sum() == 9 and not where[1].any() and not where[0, 0, 5]
    # car: centre of mass (0.5, 0.5); pedestrian: pixels (1,3) (2,3) (3,3) (3,4) (3,5): mass (2.4, 3.6)
    assert offsets[0, :, 0, 0].tolist() == [0.5, 0.5] and offsets[0, :, 1, 1].tolist() == [-0.5, -0.5]
    torch.testing.assert_close(offsets[0, :, 1, 3], torch.tensor([1.4, 0.6]))
    torch.testing.assert_close(offsets[0, :, 3, 5], torch.tensor([-0.6, -1.4]))
    assert not offsets[:, :, ~where[0]].any() and not offsets[1].any()
    # box centre (Fig. 6.31): rows 1..3, columns 3..5 -> (2, 4)
    box, _ = centre_offsets(ids, "box")
    assert box[0, :, 1, 3].tolist() == [1.0, 1.0] and box[0, :, 3, 5].tolist() == [-1.0, -1.0]
    assert box[0, :, 0, 0].tolist() == [0.5, 0.5]


def test_offset_loss_kinds_on_instance_pixels_only():
    """l1, l2 and Huber (Fig. 6.30) of the predicted offsets against the targets, weighted, over instance pixels
    only: the background pixel's wild prediction does not count."""
    ids = torch.tensor([[[1001, 1001, 0]]])  # one car of two pixels (centre column 0.5) and a background pixel
    logits, emb = torch.zeros(1, 3, 1, 3), torch.zeros(1, 2, 1, 3)
    classes = ids // 1000
    predicted = torch.zeros(1, 2, 1, 3)
    predicted[0, 1, 0, 0] = 2.5  # column error 2 at pixel 0 (target +0.5); pixel 1 exact (target -0.5)
    predicted[0, 1, 0, 1] = -0.5
    predicted[0, :, 0, 2] = 100.0
    want = {"l1": (2 + 0) / 2, "l2": (4 + 0) / 2, "huber": (1.5 + 0) / 2}
    for kind, value in want.items():
        loss = PixelLoss(offset_loss=kind, offset_weight=0.5, samples=3)(logits, emb, classes, ids, predicted)
        assert loss["loss_offset"].item() == pytest.approx(0.5 * value), kind
    assert "loss_offset" not in PixelLoss(samples=3)(logits, emb, classes, ids)
    with pytest.raises(ValueError, match="offset_loss must be one of"):
        PixelLoss(offset_loss="l3")


# ---------------------------------------------------------------------------------------------- network

@pytest.mark.parametrize("position", ["encoder", "decoder"])
def test_identity_temporal_init_is_exact(position):
    net = narrow(temporal_layers=2, temporal_position=position).eval()
    plain = narrow(temporal_layers=0, temporal_position=position).eval()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("temporal.")})
    seen = []
    net.temporal.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out)))
    x = batch(frames(4))
    with torch.no_grad():
        a, b = net(x), plain(x)
    (padded, out), = seen  # (1, C, 4 + 4, h, w) edge-padded input -> its 4 middle time steps, bit for bit
    assert padded.shape[2] == 8 and torch.equal(out, padded[:, :, 2:6])
    # the same network without the block (only the memory layout after the block differs: float rounding)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert a[0].shape == (4, 3, H // 4, W // 4) and a[1].shape == (4, 8, H // 4, W // 4)


@pytest.mark.parametrize("position,stride,lookahead,separable", [("encoder", 4, None, False), ("decoder", 8, 0, False),
                                                                 ("encoder", 4, None, True)])
def test_streaming_equals_batch_forward(position, stride, lookahead, separable):
    net = narrow(temporal_layers=1, temporal_position=position, temporal_init="random", output_stride=stride,
                 temporal_lookahead=lookahead, separable=separable).eval()
    seen = []
    net.class_head.register_forward_hook(lambda mod, inp, out: seen.append(out.detach().clone()))
    images = frames(5, seed=1)
    stream = StreamingModel(net)
    out = []
    for i, image in enumerate(images):
        out += stream.push(image, i, 100 + i)
    out += stream.flush()
    assert [d.frame for d in out] == list(range(5)) and [d.stamp for d in out] == [100 + i for i in range(5)]
    assert all((d.height, d.width) == (H, W) for d in out)
    streamed = torch.cat(seen)
    seen.clear()
    with torch.inference_mode():
        logits = net(batch(images))[0]
    torch.testing.assert_close(streamed, logits, atol=1e-4, rtol=1e-4)


def test_bfloat16_stream_runs_the_network_in_bfloat16_close_to_float32():
    """precision 'bfloat16' (autocast): the branches compute in bfloat16, the class logits stay within bfloat16's
    rounding of the float32 stream's, and the detections' score and embedding arrays come out float32."""
    net = narrow(temporal_layers=1, temporal_init="random").eval()
    seen = []
    net.class_head.register_forward_hook(lambda mod, inp, out: seen.append(out.detach().float().clone()))
    dtypes = []
    net.embedding_head.register_forward_hook(lambda mod, inp, out: dtypes.append(out.dtype))
    images = frames(3, seed=2)
    runs = {}
    for precision in ("float32", "bfloat16"):
        stream = StreamingModel(net, precision=precision)
        dets = [d for i, im in enumerate(images) for d in stream.push(im, i, i)] + stream.flush()
        assert [d.frame for d in dets] == [0, 1, 2]
        assert all(d.scores.dtype == np.float32 and d.embeddings.dtype == np.float32 for d in dets)
        runs[precision] = torch.cat(seen)
        seen.clear()
    assert dtypes == [torch.float32] * 3 + [torch.bfloat16] * 3
    a, b = runs["float32"], runs["bfloat16"]
    assert not torch.equal(a, b)
    assert (a - b).abs().max().item() < 0.05 * a.abs().max().item()


def test_input_resize_keeps_outputs_at_image_size():
    net = narrow(temporal_layers=0)
    net.set_input_size(24, 40)
    assert net.resized_size(H, W) == (24, 40) and net.output_size(H, W) == (6, 10)
    (det,) = StreamingModel(net).push(frames(1)[0], 0, 0)
    assert (det.height, det.width) == (H, W)


def test_checkpoint_round_trip_and_model_type(tmp_path):
    net = narrow(temporal_layers=1, temporal_init="random")
    path = tmp_path / "pixel.pt"
    save_checkpoint(path, net)
    built = build_from_checkpoint(path, model_type="pixel_embedding")
    assert isinstance(built, PixelEmbeddingNet) and built.config == net.config
    for (k, a), b in zip(net.state_dict().items(), built.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(MotsError, match=r"pixel.pt: a pixel_embedding checkpoint, but model_type 'trackrcnn'"):
        build_from_checkpoint(path, model_type="trackrcnn")


def test_separable_convolutions_keep_the_outputs_and_cut_the_work():
    """``separable``: every 3x3 convolution of ASPP, decoder and branches is depthwise (groups = its input maps)
    then pointwise; the outputs keep their shapes, the backbone its tensors (so --init loads it), and those parts
    hold several times fewer weights."""
    plain, separable = narrow(temporal_layers=1), narrow(temporal_layers=1, separable=True)
    assert separable.config["separable"] and not plain.config["separable"]
    for part in ("aspp", "decoder", "class_head", "embedding_head"):
        convs = [m for m in getattr(separable, part).modules() if isinstance(m, torch.nn.Conv2d)]
        assert all(m.groups == m.in_channels for m in convs if m.kernel_size == (3, 3)), part
        assert any(m.kernel_size == (3, 3) for m in convs), part
        count = [sum(p.numel() for p in getattr(n, part).parameters()) for n in (plain, separable)]
        assert count[1] * 2.5 < count[0], (part, count)
    backbone = {k: v.shape for k, v in plain.backbone.state_dict().items()}
    assert {k: v.shape for k, v in separable.backbone.state_dict().items()} == backbone
    with torch.inference_mode():
        a, b = plain.eval()(batch(frames(2))), separable.eval()(batch(frames(2)))
    assert [t.shape for t in a if t is not None] == [t.shape for t in b if t is not None]


def test_image_pooling_normalises_with_running_statistics_in_training():
    """A window's frames pool to nearly one vector: in training the image-pooling branch's batch norm keeps its
    running statistics (its training output equals its eval output and its statistics do not move), while the
    other batch norm layers learn theirs."""
    net = narrow(temporal_layers=1).train()
    pool, first = net.aspp.convs[-1], net.aspp.convs[0][1]
    (bn,) = [m for m in pool.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert net.training and first.training and not bn.training
    pooled, learnt = bn.running_mean.clone(), first.running_mean.clone()
    x = torch.randn(3, 960, 4, 6)
    with torch.no_grad():
        trained = net.aspp(x)
        assert torch.equal(bn.running_mean, pooled) and not torch.equal(first.running_mean, learnt)
        in_training = pool(x)
        assert torch.equal(in_training, net.eval().aspp.convs[-1](x)) and trained.shape[0] == 3


@pytest.mark.parametrize("separable", [False, True])
def test_training_steps_reduce_the_loss(separable):
    net = narrow(temporal_layers=1, separable=separable).train()
    x = batch(frames(2, seed=2))
    masks = torch.zeros(2, 1, H, W, dtype=torch.uint8)
    masks[:, 0, 10:30, 20:50] = 1
    out_size, resized = net.output_size(H, W), net.resized_size(H, W)
    targets = [pixel_targets(m, torch.tensor([1001]), None, out_size, resized, net.output_stride) for m in masks]
    classes, instances = torch.stack([t[0] for t in targets]), torch.stack([t[1] for t in targets])
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    totals = []
    for _ in range(4):
        losses = net.losses(x, classes, instances)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        totals.append(loss.item())
    assert totals[-1] < totals[0], totals


def test_configs_build_and_kitti_schedule_is_the_thesis():
    from pathlib import Path

    from mots_ros.engine.train import learning_rate, load_config

    config = Path(__file__).resolve().parents[1] / "config"
    model, _, _ = load_config(str(config / "pixel_embedding_small.yaml"))
    assert model.pop("arch") == "pixel_embedding"
    net = build_pixel_embedding(**model)
    assert net.config["embedding_dim"] == 16 and net.resized_size(375, 1242) == (374, 1240)  # the longer side limits
    assert sum(p.numel() for p in net.parameters()) * 2 < 20e6  # float16 demo weights under 20 MB
    model, _, _ = load_config(str(config / "pixel_embedding_small_separable.yaml"))
    model.pop("arch")
    fast = build_pixel_embedding(**model)
    assert fast.output_stride == 8 and fast.config["separable"]
    assert sum(p.numel() for p in fast.parameters()) < sum(p.numel() for p in net.parameters())
    stage2, _, _ = load_config(str(config / "pixel_embedding_small_separable_stage2.yaml"))
    assert stage2.pop("arch") == "pixel_embedding" and stage2 == model  # --init from stage 1 loads every tensor
    model, train, _ = load_config(str(config / "pixel_embedding_kitti.yaml"))
    assert (model["backbone"], model["margin"], model["embedding_weight"], model["samples"]) == \
        ("resnet101", 8.0, 0.1, 5000)
    lrs = [learning_rate(train, s) for s in (0, 502, 503, 1006, 20119, 20120, 30179)]
    assert lrs == [1e-6, 1e-6, 1e-5, 5e-5, 5e-5, 1e-5, 1e-5]


def saved_outputs(tmp_path, checkpoint, clustering=None, n=3):
    """The saved per-frame outputs of ``n`` frames streamed through ``checkpoint``, and the stream."""
    from mots_ros.engine.build import build_stream
    from mots_ros.models.pixel_embedding.outputs import OutputRecorder, load_outputs

    stream = build_stream(str(checkpoint), "cpu", clustering=clustering)
    recorder = stream.model.recorder = OutputRecorder()
    for i, image in enumerate(frames(n)):
        stream.push(image, i, i)
    stream.flush()
    recorder.save(str(tmp_path / "seq.npz"))
    return load_outputs(str(tmp_path / "seq.npz")), stream


def test_guided_upsampling_gets_each_frame_its_own_camera_image(tmp_path, monkeypatch):
    """With guided upsampling the stream hands every frame's outputs, and their clustering, the image of that frame
    (not the next one's, which the stream's reused input buffer holds by then: lookahead 1); the saved outputs hold
    no images."""
    from mots_ros.engine.build import build_stream
    from mots_ros.models.pixel_embedding import outputs
    from mots_ros.models.pixel_embedding.outputs import OutputRecorder, load_outputs
    from mots_ros.tracking.cluster import ClusterConfig

    seen, original = [], outputs.cluster_frame
    monkeypatch.setattr(outputs, "cluster_frame", lambda *a: seen.append(a[-1]) or original(*a))
    save_checkpoint(tmp_path / "m.pt", narrow(temporal_layers=1))
    config = ClusterConfig(upsampling="guided", position_scale=0.0)
    config.car.min_cluster_size = config.pedestrian.min_cluster_size = 20
    stream = build_stream(str(tmp_path / "m.pt"), "cpu", clustering=config)
    recorder = stream.model.recorder = OutputRecorder()
    assert stream.lookahead == 1
    dets = [d for i, image in enumerate(frames(3)) for d in stream.push(image, i, i)] + stream.flush()
    assert [d.frame for d in dets] == [0, 1, 2]
    for f, clustered, image in zip(recorder.frames, seen, frames(3), strict=True):
        np.testing.assert_array_equal(f.image, image)
        np.testing.assert_array_equal(clustered, image)
    recorder.save(str(tmp_path / "seq.npz"))
    assert all(f.image is None for f in load_outputs(str(tmp_path / "seq.npz")))
    # switched to guided at run time (a node parameter): the frame already encoded without its image is clustered
    # nearest, not refused
    stream.reset()
    stream.model.clustering = ClusterConfig()
    assert stream.push(frames(1)[0], 0, 0) == []
    stream.model.clustering = config
    assert [d.frame for d in stream.push(frames(2)[1], 1, 1) + stream.flush()] == [0, 1]


def test_centre_vote_branch_streams_saves_and_clusters(tmp_path):
    """centre_votes: a third branch of 2 maps (offsets in output pixels); its outputs travel with the frame's
    outputs (saved and loaded, equal to the batch forward's), and a model without them saves none and refuses
    centre features with an error naming the checkpoint."""
    from mots_ros.engine.build import build_stream
    from mots_ros.tracking.cluster import ClusterConfig

    net = narrow(temporal_layers=1, centre_votes=True, offset_unit=4.0).eval()
    assert net(batch(frames(2)))[2].shape == (2, 2, H // 4, W // 4) and net.config["centre_votes"] is True
    save_checkpoint(tmp_path / "votes.pt", net)
    saved, stream = saved_outputs(tmp_path, tmp_path / "votes.pt", ClusterConfig(features="both"))
    with torch.inference_mode():
        want = stream.model(batch(frames(3)))[2].numpy()
    np.testing.assert_allclose(np.stack([f.offsets for f in saved]), want, atol=1e-4)
    save_checkpoint(tmp_path / "plain.pt", narrow(temporal_layers=1))
    assert saved_outputs(tmp_path, tmp_path / "plain.pt", n=1)[0][0].offsets is None
    with pytest.raises(MotsError, match=r"plain.pt: clustering.features 'centre' needs a model with centre votes"):
        build_stream(str(tmp_path / "plain.pt"), "cpu", clustering=ClusterConfig(features="centre"))

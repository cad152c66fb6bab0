"""TrackR-CNN models (mots_ros.models): temporal block, losses, network, streaming, checkpoints. CPU, tiny images."""
import math
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from helpers import random_frames  # noqa: E402
from mots_ros import MotsError  # noqa: E402
from mots_ros.data import rle  # noqa: E402
from mots_ros.models import (StreamingModel, TemporalBlock, TrackRCNN, batch_all_triplet,  # noqa: E402
                             batch_hard_triplet, build_from_checkpoint, contrastive, load_checkpoint,
                             p_quantile_triplet, save_checkpoint, temporal_window)
from mots_ros.models import weights as weights_mod  # noqa: E402
from mots_ros.models.temporal import TemporalStream  # noqa: E402

H, W = 64, 96
TINY = dict(min_size=H, max_size=W, rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=50,
            rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20, box_batch_size_per_image=32,
            box_detections_per_img=10, box_score_thresh=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**kw):
    torch.manual_seed(0)
    return TrackRCNN("resnet18", **{**TINY, **kw})


def frames(n, seed=0):
    return random_frames(n, H, W, seed)


def to_tensor(image):
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255


# ---------------------------------------------------------------------------------------------- temporal block

def test_identity_init_returns_input_exactly():
    x = torch.randn(2, 16, 9, 5, 7) * 10  # negative values too
    for layers in (1, 2, 3):
        block = TemporalBlock(16, layers, "identity")
        assert block.receptive_field == 2 * layers + 1
        with torch.no_grad():
            y = block(x)
        assert torch.equal(y, x[:, :, layers:9 - layers])


def test_temporal_gradients_come_in_the_parameters_layout():
    """DistributedDataParallel needs grad strides equal to the parameter's (else a warning and slower buckets)."""
    block = TemporalBlock(256, 2, "random")
    x = torch.randn(1, 256, 6, 12, 20).contiguous(memory_format=torch.channels_last_3d)  # as the FPN hands it over
    block(x).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad.stride() == p.stride(), name


def test_average_and_random_init_differ():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 5, 6, 6)
    with torch.no_grad():
        ident, avg, rnd = (TemporalBlock(8, 2, init)(x) for init in ("identity", "average", "random"))
        one = TemporalBlock(8, 1, "average")
        # average: the mean of three time steps at the spatial centre
        assert torch.allclose(one(x[:, :, :3]), x[:, :, :3].mean(2, keepdim=True), atol=1e-6)
    assert ident.shape == avg.shape == rnd.shape == (1, 8, 1, 6, 6)
    assert not torch.allclose(ident, avg) and not torch.allclose(ident, rnd) and not torch.allclose(avg, rnd)


def test_temporal_window_clamps_and_centres():
    assert temporal_window(10, 0, 2, 5) == [0, 0, 0, 1, 2]
    assert temporal_window(10, 5, 2, 5) == [3, 4, 5, 6, 7]
    assert temporal_window(10, 9, 2, 5) == [7, 8, 9, 9, 9]
    assert temporal_window(10, 1, 0, 5) == [0, 0, 0, 0, 1]
    assert temporal_window(3, 2, 0, 5) == [0, 0, 0, 1, 2]
    with pytest.raises(ValueError):
        temporal_window(10, 0, 5, 5)


def test_temporal_stream_equals_padded_block():
    torch.manual_seed(0)
    block = TemporalBlock(4, 2, "random")
    seq = torch.randn(6, 4, 5, 5)  # T frames of (C, H, W)
    stream = TemporalStream(block)
    with torch.no_grad():
        outs = [stream.push({"0": seq[t:t + 1]})["0"] for t in range(6)]
        outs += [stream.push({"0": seq[5:6]})["0"] for _ in range(2)]  # flush: last frame replicated
        padded = torch.cat([seq[:1]] * 4 + [seq] + [seq[-1:]] * 2).permute(1, 0, 2, 3)[None]
        ref = block(padded)[0].permute(1, 0, 2, 3)  # output i = window of frames i-4 .. i (clamped)
    assert torch.allclose(torch.cat(outs), ref, atol=1e-5)


# ---------------------------------------------------------------------------------------------- losses
# 1-D embeddings 0, 0.5, 1, 3 with identities A A B B (class 1); distances:
# d01 = .5, d02 = 1, d03 = 3, d12 = .5, d13 = 2.5, d23 = 2
E1 = torch.tensor([[0.0], [0.5], [1.0], [3.0]])
Y1 = torch.tensor([1, 1, 2, 2])
C1 = torch.tensor([1, 1, 1, 1])


def with_lone_pedestrian():
    """E1 plus a pedestrian (class 2, id 3) at 0.6."""
    return (torch.cat([E1, torch.tensor([[0.6]])]), torch.cat([Y1, torch.tensor([3])]),
            torch.cat([C1, torch.tensor([2])]))


def test_batch_hard_hand_computed():
    # anchors: 0: .5 - 1 + .2 < 0 -> 0; 1: .5 - .5 + .2 = .2; 2: 2 - .5 + .2 = 1.7; 3: 2 - 2.5 + .2 < 0 -> 0
    assert batch_hard_triplet(E1, Y1, C1, 0.2).item() == pytest.approx((0.2 + 1.7) / 4)
    # a lone pedestrian at 0.6 is neither an anchor nor a negative of the cars (triplets within a class)
    E, Y, C = with_lone_pedestrian()
    assert batch_hard_triplet(E, Y, C, 0.2).item() == pytest.approx(0.475)
    # 2-D, Euclidean: a=(0,0), p=(3,4) (d=5), n=(0,1): anchor a: 5 - 1 + .2; anchor p: 5 - sqrt(18) + .2; n skipped
    E2 = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    expected = (4.2 + 5.2 - math.sqrt(18)) / 2
    assert batch_hard_triplet(E2, torch.tensor([1, 1, 2]), torch.tensor([1, 1, 1])).item() == pytest.approx(expected)


def test_batch_all_and_p_quantile_hand_computed():
    # 8 triplets (a, p, n): a0: (.5-1+.2)->0, (.5-3+.2)->0; a1: (.5-.5+.2)=.2, (.5-2.5+.2)->0;
    # a2: (2-1+.2)=1.2, (2-.5+.2)=1.7; a3: (2-3+.2)->0, (2-2.5+.2)->0
    assert batch_all_triplet(E1, Y1, C1, 0.2).item() == pytest.approx(3.1 / 8)
    assert p_quantile_triplet(E1, Y1, C1, 0.25, 0.2).item() == pytest.approx((1.7 + 1.2) / 2)
    assert p_quantile_triplet(E1, Y1, C1, 0.5, 0.2).item() == pytest.approx((1.7 + 1.2 + 0.2 + 0) / 4)
    assert p_quantile_triplet(E1, Y1, C1, 1.0, 0.2).item() == pytest.approx(3.1 / 8)


def test_contrastive_hand_computed():
    # 16 ordered pairs (self pairs included, eq. 2.5): positives 2 * .5^2 + 2 * 2^2 = 8.5;
    # negatives with margin 1: only d12 = .5 -> 2 * (1 - .5)^2 = .5
    assert contrastive(E1, Y1, C1, 1.0).item() == pytest.approx(9.0 / 16)
    assert contrastive(E1, Y1, C1, 0.2).item() == pytest.approx(8.5 / 16)
    # another class adds its own pairs only (1 self pair)
    E, Y, C = with_lone_pedestrian()
    assert contrastive(E, Y, C, 0.2).item() == pytest.approx(8.5 / 17)


@pytest.mark.parametrize("loss", [batch_hard_triplet, batch_all_triplet, p_quantile_triplet, contrastive])
def test_losses_finite_gradient_at_coincident_embeddings(loss):
    E = torch.zeros(4, 3, requires_grad=True)
    value = loss(E, Y1, C1)
    value.backward()
    assert torch.isfinite(value) and value.item() > 0
    assert torch.isfinite(E.grad).all()
    # no valid anchor (one identity): zero, still differentiable
    E = torch.randn(3, 3, requires_grad=True)
    value = loss(E, torch.tensor([1, 1, 1]), torch.tensor([1, 1, 1]))
    value.backward()
    assert torch.isfinite(E.grad).all()


# ---------------------------------------------------------------------------------------------- network

def make_targets(n):
    """Two cars and a pedestrian moving right by 2 px per frame."""
    targets = []
    for t in range(n):
        boxes = torch.tensor([[4.0 + 2 * t, 6, 30 + 2 * t, 30], [40.0 + 2 * t, 10, 70 + 2 * t, 40],
                              [20.0 + 2 * t, 34, 34 + 2 * t, 62]])
        masks = torch.zeros(3, H, W, dtype=torch.uint8)
        for i, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
            masks[i, y0:y1, x0:x1] = 1
        targets.append(dict(boxes=boxes, labels=torch.tensor([1, 1, 2]), masks=masks,
                            track_ids=torch.tensor([1001, 1002, 2001])))
    return targets


def test_training_steps_reduce_loss():
    model = tiny()
    model.train()
    images = [to_tensor(f) for f in frames(4)]
    targets = make_targets(4)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    totals, assoc = [], []
    for _ in range(6):
        losses = model(images, targets)
        assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg",
                               "loss_mask", "loss_association"}
        total = sum(losses.values())
        assert torch.isfinite(total)
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
        assoc.append(losses["loss_association"].item())
    assert assoc[0] > 0 and assoc[-1] < assoc[0]
    assert totals[-1] < totals[0]


def test_scale_jitter_resizes_what_the_network_sees_in_training_only():
    """The transform resizes every image to min_size/max_size, so scale augmentation must act on those sizes:
    one factor for the whole window, boxes and masks scaled alike, eval untouched."""
    model = tiny().train()
    images = [to_tensor(f) for f in frames(3)]
    model.scale_range = (1.5, 1.5)
    image_list, _, targets = model.features(images, make_targets(3))
    assert image_list.image_sizes == [(96, 144)] * 3
    assert torch.allclose(targets[0]["boxes"][0], torch.tensor([4.0, 6, 30, 30]) * 1.5)
    assert targets[0]["masks"].shape[-2:] == (96, 144)
    assert (model.transform.min_size, model.transform.max_size) == ((H,), W)  # restored
    model.scale_range = (0.5, 1.5)
    sizes = {model.features(images, make_targets(3))[0].image_sizes[0] for _ in range(8)}
    assert len(sizes) > 1 and all(32 <= h <= 96 for h, _ in sizes)
    model.eval()
    with torch.inference_mode():
        assert model.features(images)[0].image_sizes == [(H, W)] * 3


def test_eval_outputs_and_identity_model_equals_mask_rcnn():
    from torchvision.models.detection import MaskRCNN

    model = tiny().eval()
    images = [to_tensor(f) for f in frames(3)]
    with torch.inference_mode():
        out = model(images)
        plain = MaskRCNN(model.backbone, num_classes=3, **TINY).eval()
        plain.rpn, plain.roi_heads = model.rpn, model.roi_heads
        ref = plain(images)
    assert len(out) == 3
    for o, r in zip(out, ref):
        n = len(o["boxes"])
        assert o["masks"].shape == (n, 1, H, W) and o["embeddings"].shape == (n, 128)
        assert o["labels"].dtype == torch.int64 and ((o["labels"] >= 1) & (o["labels"] <= 2)).all()
        # identity-initialised temporal block: exactly Mask R-CNN
        assert torch.allclose(o["boxes"], r["boxes"], atol=1e-4) and torch.equal(o["labels"], r["labels"])


@pytest.mark.parametrize("backbone", ["resnet34", "mobilenet_v3_large"])
def test_other_backbones_build_and_run(backbone):
    model = TrackRCNN(backbone, temporal_layers=1, assoc_dim=32, **TINY).eval()
    with torch.inference_mode():
        out = model([to_tensor(f) for f in frames(2)])
    assert out[0]["embeddings"].shape[1] == 32


# ---------------------------------------------------------------------------------------------- streaming

def batch_reference(model, images, t, lookahead):
    """Detections of frame t from the batch path over its padded window (features per frame, block, heads)."""
    per = [model.features([to_tensor(im)]) for im in images]
    window = temporal_window(len(images), t, lookahead, model.receptive_field)
    feats = OrderedDict((name, torch.cat([per[j][1][name] for j in window])) for name in per[0][1])
    det, _ = model.heads(per[t][0], model.temporal_features(feats, pad=False))
    return model.postprocess(det, per[t][0], [(H, W)])[0]


def run_stream(stream, images):
    out = []
    for i, image in enumerate(images):
        got = stream.push(image, frame=i, stamp=1000 + i)
        assert len(got) == (1 if i >= stream.lookahead else 0)
        out += got
    out += stream.flush()
    return out


@pytest.mark.parametrize("lookahead", [0, 2])
def test_streaming_equals_batch_over_padded_windows(lookahead):
    model = tiny(temporal_init="random").eval()
    images = frames(5)
    out = run_stream(StreamingModel(model, lookahead=lookahead), images)
    assert [d.frame for d in out] == list(range(5)) and [d.stamp for d in out] == [1000 + i for i in range(5)]
    with torch.inference_mode():
        full = model([to_tensor(im) for im in images]) if lookahead == model.lookahead else None
        for t, det in enumerate(out):
            ref = batch_reference(model, images, t, lookahead)
            assert (det.height, det.width) == (H, W) and len(det) == len(ref["scores"]) > 0
            assert det.boxes.dtype == np.float32 and det.embeddings.dtype == np.float32
            assert det.classes.dtype == np.int64
            np.testing.assert_allclose(det.boxes, ref["boxes"].numpy(), atol=1e-4)
            np.testing.assert_allclose(det.scores, ref["scores"].numpy(), atol=1e-5)
            np.testing.assert_array_equal(det.classes, ref["labels"].numpy())
            np.testing.assert_allclose(det.embeddings, ref["embeddings"].numpy(), atol=1e-5)
            np.testing.assert_array_equal(rle.decode(det.masks).transpose(2, 0, 1),
                                          (ref["masks"][:, 0] >= 0.5).numpy())
            if full is not None:  # the centred model's own batch forward (all frames at once)
                np.testing.assert_allclose(det.boxes, full[t]["boxes"].numpy(), atol=1e-3)
                np.testing.assert_allclose(det.embeddings, full[t]["embeddings"].numpy(), atol=1e-4)


def test_streaming_causal_model_matches_its_batch_forward():
    model = tiny(temporal_init="random", temporal_lookahead=0).eval()
    images = frames(4, seed=1)
    out = run_stream(StreamingModel(model), images)
    with torch.inference_mode():
        full = model([to_tensor(im) for im in images])
    for det, ref in zip(out, full):
        np.testing.assert_allclose(det.embeddings, ref["embeddings"].numpy(), atol=1e-4)


def test_streaming_computes_features_once_per_frame():
    model = tiny(temporal_init="random").eval()
    calls = []
    model.backbone.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape[0]))
    stream = StreamingModel(model, lookahead=2)
    images = frames(6)
    out = run_stream(stream, images)
    assert calls == [1] * 6 and len(out) == 6
    # a second sequence after flush starts afresh (first frame replicated again)
    calls.clear()
    again = run_stream(stream, images[:2])
    assert calls == [1, 1] and [d.frame for d in again] == [0, 1]


def test_streaming_takes_reversed_channel_views():
    """An OpenCV BGR frame viewed as RGB (``bgr[:, :, ::-1]``, negative strides) gives the RGB frame's output."""
    model = tiny(temporal_init="random", temporal_lookahead=0).eval()
    images = frames(2, seed=3)
    views = [np.ascontiguousarray(im[:, :, ::-1])[:, :, ::-1] for im in images]
    for a, b in zip(run_stream(StreamingModel(model), images), run_stream(StreamingModel(model), views)):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.embeddings, b.embeddings)


def test_warm_up_leaves_the_stream_as_new():
    model = tiny(temporal_init="random").eval()
    images = frames(3, seed=4)
    warmed = StreamingModel(model, lookahead=2)
    warmed.warm_up(H + 8, W)  # another size: the next sequence may have any
    for a, b in zip(run_stream(StreamingModel(model, lookahead=2), images), run_stream(warmed, images)):
        assert a.frame == b.frame
        np.testing.assert_array_equal(a.embeddings, b.embeddings)


def test_streaming_short_sequence_and_errors():
    model = tiny().eval()
    stream = StreamingModel(model, lookahead=2, score_threshold=1.1)
    assert stream.push(frames(1)[0], 7, 70) == []
    out = stream.flush()
    assert [d.frame for d in out] == [7] and len(out[0]) == 0 and out[0].embeddings.shape == (0, 128)
    with pytest.raises(MotsError, match="uint8"):
        stream.push(np.zeros((H, W, 3), np.float32), 0, 0)
    stream.push(frames(1)[0], 0, 0)
    with pytest.raises(MotsError, match="size changed"):
        stream.push(np.zeros((H + 2, W, 3), np.uint8), 1, 1)
    with pytest.raises(MotsError, match="CUDA"):
        StreamingModel(model, precision="float16")
    with pytest.raises(MotsError, match="precision must be one of"):
        StreamingModel(model, precision="int8")


# ---------------------------------------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = tiny(temporal_init="random", assoc_dim=16)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, model, epoch=3)
    return path, model


def test_checkpoint_round_trip_uses_weights_only(checkpoint, monkeypatch):
    path, model = checkpoint
    seen = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: seen.append(kw) or real_load(*a, **kw))
    built = build_from_checkpoint(path)
    assert seen and all(kw.get("weights_only") is True for kw in seen)
    assert built.config == model.config
    for (k, a), b in zip(model.state_dict().items(), built.state_dict().values()):
        assert torch.equal(a, b), k
    assert load_checkpoint(path, built)["epoch"] == 3


def test_checkpoint_records_arch_and_old_files_load_as_trackrcnn(checkpoint, tmp_path):
    path, model = checkpoint
    assert torch.load(path, weights_only=True)["arch"] == "trackrcnn"
    old = tmp_path / "old.pt"  # written before there were two families: no 'arch'
    torch.save({k: v for k, v in torch.load(path, weights_only=True).items() if k != "arch"}, old)
    built = build_from_checkpoint(old)
    assert isinstance(built, TrackRCNN) and built.config == model.config
    assert torch.equal(built.assoc_head.mlp[-1].weight, model.assoc_head.mlp[-1].weight)
    assert isinstance(build_from_checkpoint(old, model_type="trackrcnn"), TrackRCNN)


def test_unknown_arch_and_model_type_mismatch_name_the_file(checkpoint, tmp_path):
    path, _ = checkpoint
    odd = tmp_path / "odd.pt"
    torch.save({**torch.load(path, weights_only=True), "arch": "yolo"}, odd)
    with pytest.raises(MotsError, match=r"odd.pt: unknown model arch 'yolo' \(known: trackrcnn, pixel_embedding\)"):
        build_from_checkpoint(odd)
    with pytest.raises(MotsError, match=r"model.pt: a trackrcnn checkpoint, but model_type 'pixel_embedding'"):
        build_from_checkpoint(path, model_type="pixel_embedding")
    with pytest.raises(MotsError, match="model_type must be one of auto, trackrcnn, pixel_embedding"):
        build_from_checkpoint(path, model_type="maskrcnn")


def test_build_stream_applies_input_size_lookahead_threshold(checkpoint):
    from mots_ros.engine.build import build_stream

    path, _ = checkpoint
    stream = build_stream(str(path), "cpu", lookahead=1, score_threshold=0.3, input_size=(32, 50))
    assert stream.lookahead == 1 and stream.score_threshold == 0.3 and stream.device.type == "cpu"
    assert (stream.model.transform.min_size, stream.model.transform.max_size) == ((32,), 50)
    assert not stream.model.training
    warnings = []
    if not torch.cuda.is_available():
        with pytest.raises(MotsError, match="cuda:0: no CUDA device"):
            build_stream(str(path), "cuda:0")
        stream = build_stream(str(path), "cuda:0", precision="float16", fallback=warnings.append)
        assert stream.device.type == "cpu" and stream.precision == "float32" and len(warnings) == 2


def test_checkpoint_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "obj": zipfile.ZipInfo("x")}, path)  # not loadable with weights_only
    with pytest.raises(MotsError, match="evil.pt"):
        build_from_checkpoint(path)


def test_missing_corrupt_truncated_checkpoints(checkpoint, tmp_path):
    path, model = checkpoint
    with pytest.raises(MotsError, match="nope.pt.*no such file"):
        load_checkpoint(tmp_path / "nope.pt", model)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.RandomState(0).bytes(5000))
    with pytest.raises(MotsError, match="junk.pt"):
        load_checkpoint(junk, model)
    cut = tmp_path / "cut.pt"
    data = path.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(MotsError, match="cut.pt"):
        build_from_checkpoint(cut)
    plain = tmp_path / "plain.pt"
    torch.save([1, 2], plain)
    with pytest.raises(MotsError, match="plain.pt.*not a mots_ros checkpoint"):
        load_checkpoint(plain, model)


def test_incompatible_checkpoint_lists_keys(checkpoint):
    path, _ = checkpoint
    with pytest.raises(MotsError, match=r"model.pt.*shape mismatches.*assoc_head"):
        load_checkpoint(path, tiny(assoc_dim=32))
    with pytest.raises(MotsError, match=r"model.pt.*unexpected keys.*temporal\.layers"):
        load_checkpoint(path, tiny(temporal_layers=0, assoc_dim=16))
    with pytest.raises(MotsError, match=r"model.pt.*missing keys.*temporal\.layers\.2"):
        load_checkpoint(path, tiny(temporal_layers=3, assoc_dim=16))


# ---------------------------------------------------------------------------------------------- pretrained

def test_pretrained_missing_names_expected_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(MotsError, match=str(expected)):
        tiny(pretrained="imagenet")
    with pytest.raises(MotsError, match="given.pth"):
        tiny(pretrained="imagenet", weights_path=str(tmp_path / "given.pth"))
    with pytest.raises(MotsError, match="resnet50 only"):
        tiny(pretrained="coco")
    tiny()  # no pretrained weights asked for: nothing is looked up


def test_pretrained_imagenet_from_hub_dir(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(1)
    resnet = torchvision.models.resnet18(weights=None)
    (tmp_path / "checkpoints").mkdir()
    torch.save(resnet.state_dict(), tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    model = tiny(pretrained="imagenet")
    assert model.config["frozen_bn"] is True and model.config["trainable_backbone_layers"] == 3
    body = model.backbone.body
    loaded = body.state_dict()
    for k, v in resnet.state_dict().items():
        if k in loaded:
            assert torch.equal(loaded[k], v), k
    assert not body.conv1.weight.requires_grad and body.layer4[0].conv1.weight.requires_grad
    # a wrong file is incompatible, with the file named
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(MotsError, match="r34.pth.*unexpected keys.*layer1.2"):
        tiny(pretrained="imagenet", weights_path=str(tmp_path / "r34.pth"))
    assert weights_mod.pretrained_file("mobilenet_v3_large", "imagenet").name == "mobilenet_v3_large-8738ca79.pth"


def test_pretrained_coco_skips_class_specific_layers(tmp_path):
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    coco = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict()
    torch.save(coco, tmp_path / "coco.pth")
    model = TrackRCNN("resnet50", pretrained="coco", weights_path=str(tmp_path / "coco.pth"), **TINY)
    assert model.config["bn_eps"] == 0.0 and model.backbone.body.bn1.eps == 0.0  # as torchvision's COCO model
    own = model.state_dict()
    skipped = [k for k, v in coco.items() if k in own and own[k].shape != v.shape]
    assert skipped and all(k.startswith(("roi_heads.box_predictor.", "roi_heads.mask_predictor.")) for k in skipped)
    for k, v in coco.items():
        if k in own and k not in skipped:
            assert torch.equal(own[k], v), k

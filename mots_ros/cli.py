"""`mots`: the command-line entry point. Argument parsing only; each subcommand calls one function of the core."""
from __future__ import annotations

import argparse
import os
import json
import logging
import sys

from mots_ros import MotsError, __version__
from mots_ros.demo import DEMO_SIZE
from mots_ros.outputs import output_file


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 375x1242, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError("height and width must be positive")
    return h, w


def _write_json(results: dict, path: str) -> None:
    from mots_ros.eval.evaluate import nan_to_none

    try:
        with open(path, "w") as fh:
            json.dump(nan_to_none(results), fh, indent=1)
    except OSError as e:
        raise MotsError(f"{path}: cannot write the --json file ({e.strerror})") from None


def cmd_eval(args) -> int:
    from mots_ros.eval.evaluate import evaluate
    from mots_ros.eval.report import format_table

    if args.json:
        output_file(args.json, "--json file")
    results = evaluate(args.gt, args.results, args.seqmap, make_disjoint=args.make_disjoint)
    print(format_table(results))
    if args.json:
        _write_json(results, args.json)
        print(f"\nwrote {args.json}")
    return 0


def cmd_downsample_gt(args) -> int:
    from mots_ros.eval.downsample import evaluate_downsampled
    from mots_ros.eval.report import format_table

    if args.json:
        output_file(args.json, "--json file")
    results = evaluate_downsampled(args.gt, args.seqmap, args.stride)
    print(format_table(results, fields=("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "TP", "FP", "FN", "IDS")))
    if args.json:
        _write_json(results, args.json)
        print(f"\nwrote {args.json}")
    return 0


def cmd_convert(args) -> int:
    from mots_ros.data.convert import convert

    n = convert(args.src, args.dst, args.to, seqmap=args.seqmap)
    print(f"converted {n} sequence(s) to {args.to} in {args.dst}")
    return 0


def cmd_synth(args) -> int:
    from mots_ros.data.synth import generate

    generate(args.out, sequences=args.sequences, frames=args.frames, size=args.size, seed=args.seed)
    print(f"wrote a synthetic MOTS data set to {args.out}")
    return 0


def cmd_viz(args) -> int:
    from mots_ros.viz.render import render

    out = render(args.images, args.tracks, args.out, fps=args.fps)
    print(f"wrote {out}")
    return 0


def cmd_viz_pixels(args) -> int:
    from mots_ros.viz.pixels import viz_pixels

    out = viz_pixels(args.out, args.frame, checkpoint=args.checkpoint, outputs=args.outputs, images=args.images,
                     device=args.device, pca_pixels=args.pca_pixels, tracker_config=args.tracker_config)
    print(f"wrote {out}")
    return 0


def _add_viz_pixels(sub) -> None:
    """`mots viz-pixels` (thesis Fig. 6.7)."""
    v = sub.add_parser("viz-pixels", help="one frame of a pixel-embedding model as a picture: image, classes, "
                                          "embeddings (PCA), clusters (thesis Fig. 6.7)",
                       description="Draw one frame of the pixel-embedding family as one PNG of four panels "
                                   "(thesis 6.2, Fig. 6.7): the input image, the class map (background / car / "
                                   "pedestrian), the embeddings projected to RGB by PCA (first three principal "
                                   "components, 1st-99th percentile to 0..255) and the clusters over the image; "
                                   "with centre votes (thesis 6.3.1) also the offsets' direction field in HSV "
                                   "(Fig. 6.28) and the centres they vote for. "
                                   "The outputs come from a checkpoint run over --images or from a file of "
                                   "mots run --save-outputs, clustered with the clustering of --tracker-config "
                                   "(a file of mots tune --outputs) or the thesis's parameters.")
    src = v.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", metavar="CKPT", help="pixel_embedding checkpoint (needs --images)")
    src.add_argument("--outputs", metavar="SEQ.npz", help="network outputs saved by mots run --save-outputs")
    v.add_argument("--images", metavar="DIR", help="folder of the sequence's frames (FRAME.png/.jpg); optional "
                                                   "with --outputs (without it the image panel is empty)")
    v.add_argument("--frame", type=int, required=True, metavar="N", help="the frame to draw")
    v.add_argument("--out", required=True, metavar="PNG", help="the PNG file to write")
    v.add_argument("--pca-pixels", choices=("foreground", "all"), default="foreground",
                   help="pixels the PCA is fitted on (default foreground: not background, all when under 10)")
    v.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    v.add_argument("--tracker-config", metavar="TUNED.yaml", help="cluster with this file's inference_node "
                                                                  "clustering parameters (mots tune --outputs)")
    v.set_defaults(func=cmd_viz_pixels)


def cmd_perturb(args) -> int:
    from mots_ros.eval.perturb import Perturbation, perturb_dir

    p = Perturbation(drop=args.drop, shift=args.shift, swap=args.swap, restart=args.restart,
                     false_positive=args.false_positive)
    perturb_dir(args.gt, args.seqmap, args.out, p, seed=args.seed)
    print(f"wrote perturbed results to {args.out}")
    return 0


def cmd_track(args) -> int:
    from mots_ros.tracking.run import track_files

    counts = track_files(args.detections, args.config, args.out)
    print(f"tracked {len(counts)} sequence(s) ({sum(counts.values())} tracks) into {args.out}")
    return 0


def _subsample(values: list[str]) -> dict:
    """``subsample`` and ``class_subsample`` of :func:`tune_clusters` from ``--subsample S [CLASS=S ...]``."""
    from mots_ros.tracking.cluster import CLASS_IDS

    def step(text: str, what: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise MotsError(f"--subsample: {what} must be an integer >= 1, got {text!r}")
        return int(text)

    own = {}
    for item in values[1:]:
        name, eq, text = item.partition("=")
        if not eq or name not in CLASS_IDS:
            raise MotsError(f"--subsample: expected CLASS=S after the shared step (CLASS: "
                            f"{', '.join(CLASS_IDS)}), got {item!r}")
        own[name] = step(text, name)
    return {"subsample": step(values[0], "the shared step"), "class_subsample": own}


def cmd_tune(args) -> int:
    from mots_ros.outputs import output_file
    from mots_ros.tracking.tune import summary, tune

    for path, what in ((args.out, "tuned parameters file"), (args.log, "trials CSV")):
        if path:
            output_file(path, what)
    if args.outputs:
        from mots_ros.tracking.tune_clusters import clustering_summary, tune_clusters

        result = tune_clusters(args.outputs, args.gt, args.seqmap, cluster_trials=args.cluster_trials,
                               trials=args.trials or 100, jobs=args.jobs, seed=args.seed, out=args.out,
                               val_seqmap=args.val_seqmap, log=args.log, **_subsample(args.subsample),
                               features=args.features, linker=args.linker or "clusters", start=args.start,
                               refine_choice=args.refine, images=args.images)
        print(clustering_summary(result.clustering))
    else:
        if args.features:
            raise MotsError("--features chooses what is clustered: it needs --outputs (a pixel-embedding model)")
        if args.linker:
            raise MotsError("--linker chooses how clusters are linked: it needs --outputs (a pixel-embedding model)")
        if args.refine:
            raise MotsError("--refine searches around a chosen clustering: it needs --outputs (a pixel-embedding "
                            "model)")
        if args.start:
            raise MotsError("--start gives the first clustering and linking trial: it needs --outputs (a "
                            "pixel-embedding model)")
        if args.images:
            raise MotsError("--images guide the upsampling of clusters: it needs --outputs (a pixel-embedding model)")
        result = tune(args.detections, args.gt, args.seqmap, trials=args.trials or 1000, jobs=args.jobs,
                      seed=args.seed, out=args.out, val_seqmap=args.val_seqmap, log=args.log)
    print(summary(result))
    print(f"\nwrote {args.out}" + (f" and {args.log}" if args.log else ""))
    return 0


def cmd_train(args) -> int:
    from mots_ros.engine.train import train

    path = train(args.config, args.data, args.train_seqmap, args.out, val_seqmap=args.val_seqmap,
                 resume=args.resume, device=args.device, init=args.init)
    if os.environ.get("RANK", "0") == "0":  # one line, also under torchrun
        print(f"wrote {path}")
    return 0


def cmd_infer(args) -> int:
    from mots_ros.engine.infer import infer

    n = infer(args.checkpoint, args.images, args.out, lookahead=args.lookahead, device=args.device,
              precision=args.precision)
    print(f"wrote {n} detections to {args.out}")
    return 0


def cmd_run(args) -> int:
    from mots_ros.engine.infer import run

    run(args.images, args.seqmap, args.out, checkpoint=args.checkpoint, tracker_config=args.tracker_config,
        device=args.device, lookahead=args.lookahead, detections_dir=args.save_detections, model=args.model,
        outputs_dir=args.save_outputs, precision=args.precision)
    print(f"wrote results to {args.out}")
    return 0


def cmd_demo(args) -> int:
    from mots_ros.demo import run_demo
    from mots_ros.engine.build import demo_files

    checkpoint, tracker = args.checkpoint, args.tracker_config
    if checkpoint is None:
        checkpoint, tuned = demo_files(args.model)
        tracker = tracker or tuned
    run_demo(args.out, seed=args.seed, images=args.images, bag=args.bag, gt=args.gt, checkpoint=checkpoint,
             tracker_config=tracker, device=args.device, frames=args.frames, size=args.size)
    return 0


def cmd_launch(args) -> int:
    from mots_ros.ros.launcher import LaunchArgs, launch
    from mots_ros.ros.names import check_topic_name

    check_topic_name(args.camera_topic, "--camera-topic")
    return launch(LaunchArgs(camera_topic=args.camera_topic, model=args.model, checkpoint=args.checkpoint,
                             device=args.device, namespace=args.namespace, use_sim_time=args.use_sim_time,
                             rviz=args.rviz, respawn=args.respawn, lifecycle=args.lifecycle,
                             composed=args.composed, params_file=args.params_file or "",
                             extra_params=args.extra_params or []))


def _check_bag_args(args) -> None:
    """Sequence name, topics and outputs of a bag command, checked before a bag is read or recorded."""
    from mots_ros.data.formats import check_sequence_name
    from mots_ros.outputs import output_dir
    from mots_ros.ros.names import check_topic_name

    for topic in getattr(args, "topics", None) or ():
        check_topic_name(topic, "--topics")
    if getattr(args, "sequence", None):
        check_sequence_name(args.sequence, "--sequence")
    if getattr(args, "json", None):
        output_file(args.json, "--json file")
    if args.bag_command == "record":
        output_file(args.out_bag, "bag", make_folder=True)
    elif getattr(args, "out", None):
        output_dir(args.out)


def cmd_bag(args) -> int:
    from mots_ros.ros import bag

    _check_bag_args(args)
    if args.bag_command == "from-sequence":
        n = bag.from_sequence(args.images, args.out_bag, rate=args.rate, topic=args.topic, frame_id=args.frame_id,
                              compressed=args.compressed)
        topic = args.topic + bag.COMPRESSED_SUFFIX if args.compressed else args.topic
        print(f"wrote {n} frames on {topic} to {args.out_bag}")
    elif args.bag_command == "evaluate":
        bag.evaluate(args.bag, args.gt, args.seqmap, realtime=args.realtime, json_out=args.json,
                     checkpoint=args.checkpoint, tracker_config=args.tracker_config, topic=args.topic,
                     sequence=args.sequence, device=args.device, out=args.out, use_running=args.use_running,
                     namespace=args.namespace)
    elif args.bag_command == "record":
        counts = bag.record(args.out_bag, tuple(args.topics), duration=args.duration)
        print(f"wrote {args.out_bag}: " + ", ".join(f"{n} messages on {t}" for t, n in counts.items()))
    else:
        print(f"wrote {bag.tracks_to_txt(args.tracks_bag, args.images_bag, args.out, args.topic, args.sequence)}")
    return 0


def _precision_argument(parser) -> None:
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16"),
                        help="float32 (default); bfloat16: autocast, about 2x faster on CPUs with AVX-512 BF16 or "
                             "AMX; float16: CUDA only")


def _add_data_commands(sub) -> None:
    """`mots eval`, `downsample-gt`, `convert`, `synth`, `viz`, `viz-pixels`, `ablate`, `perturb`."""
    from mots_ros.ablation.runner import add_parser as add_ablate_parser

    e = sub.add_parser("eval", help="evaluate MOTS results against ground truth (sMOTSA, IDF1, HOTA, DR, ...)",
                       description="Evaluate KITTI MOTS / MOTSChallenge results. CLEAR metrics follow mots_tools "
                                   "(mask IoU > 0.5, ignore regions), Identity and HOTA follow TrackEval, DR "
                                   "scores the thesis (section 5.2). Scores are printed in percent.")
    e.add_argument("--gt", required=True, help="ground-truth folder with SEQ.txt files or SEQ/ png folders")
    e.add_argument("--results", required=True, help="results folder, same layout as --gt (missing SEQ = empty)")
    e.add_argument("--seqmap", required=True, help="seqmap file 'SEQ empty FIRST LAST' listing the sequences")
    e.add_argument("--json", metavar="OUT.json", help="also write all numbers as JSON")
    e.add_argument("--make-disjoint", action="store_true",
                   help="resolve overlapping result masks (the later mask loses the contested pixels) "
                        "instead of failing")
    e.set_defaults(func=cmd_eval)

    d = sub.add_parser("downsample-gt", help="score ground truth downsampled by a stride and upsampled back "
                                             "(thesis Fig. 6.2)",
                       description="Scale the ground truth down by STRIDE with nearest-neighbour sampling at pixel "
                                   "centres, back up the same way, and evaluate it against the original: an upper "
                                   "bound for methods that predict at 1/STRIDE resolution.")
    d.add_argument("--gt", required=True, help="ground-truth folder (SEQ.txt or SEQ/ pngs)")
    d.add_argument("--seqmap", required=True, help="seqmap file listing the sequences")
    d.add_argument("--stride", type=int, required=True, help="downsampling factor, e.g. 2 or 4")
    d.add_argument("--json", metavar="OUT.json", help="also write all numbers as JSON")
    d.set_defaults(func=cmd_downsample_gt)

    c = sub.add_parser("convert", help="convert annotations between txt and png instance maps",
                       description="Convert every sequence of SRC (SEQ.txt files or SEQ/ png folders) to DST in "
                                   "the other format. png output needs the frame range from --seqmap to write "
                                   "frames without objects.")
    c.add_argument("src", help="source folder")
    c.add_argument("dst", help="destination folder")
    c.add_argument("--to", choices=("txt", "png"), required=True, help="output format")
    c.add_argument("--seqmap", help="seqmap: which sequences and frames (default: every sequence in SRC)")
    c.set_defaults(func=cmd_convert)

    s = sub.add_parser("synth", help="write the built-in synthetic KITTI-MOTS-like data set",
                       description="Write images/SEQ/FRAME.png, instances_txt/SEQ.txt and train/val seqmaps of "
                                   "moving, occluding cars and pedestrians with exact ground truth. "
                                   "Deterministic for a seed.")
    s.add_argument("out", help="output folder")
    s.add_argument("--sequences", type=int, default=4, help="number of sequences (default 4)")
    s.add_argument("--frames", type=int, default=40, help="frames per sequence (default 40)")
    s.add_argument("--size", type=_size, default=(188, 620), help="image size HxW (default 188x620)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.set_defaults(func=cmd_synth)

    v = sub.add_parser("viz", help="render tracks as overlay frames or a video",
                       description="Tint each mask with a stable colour per track id, draw its outline and a "
                                   "label 'car 12'; ignore regions grey. OUT ending in .mp4 writes a video, "
                                   "otherwise a folder of PNG frames.")
    v.add_argument("--images", required=True, help="folder of the sequence's frames (FRAME.png/.jpg)")
    v.add_argument("--tracks", required=True, help="tracks or ground truth: SEQ.txt or a png folder")
    v.add_argument("--out", required=True, help="output folder, or a file ending in .mp4")
    v.add_argument("--fps", type=float, default=10.0, help="video frame rate (default 10)")
    v.set_defaults(func=cmd_viz)
    _add_viz_pixels(sub)
    add_ablate_parser(sub)
    q = sub.add_parser("perturb", help="derive a result set from ground truth by known perturbations",
                       description="Write results that differ from the ground truth by dropped, shifted and eroded "
                                   "masks, swapped and re-started ids, false positives and detections in ignore "
                                   "regions: a known input to check an evaluator or a pipeline.")
    q.add_argument("--gt", required=True, help="ground-truth folder (SEQ.txt or SEQ/ pngs)")
    q.add_argument("--seqmap", required=True, help="seqmap file listing the sequences")
    q.add_argument("--out", required=True, help="output folder for SEQ.txt results")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--drop", type=float, default=0.1, help="probability to drop a mask (default 0.1)")
    q.add_argument("--shift", type=float, default=0.2, help="probability to shift a mask (default 0.2)")
    q.add_argument("--swap", type=float, default=0.02, help="per track: probability of an id swap (default 0.02)")
    q.add_argument("--restart", type=float, default=0.05, help="per track: probability of a new id (default 0.05)")
    q.add_argument("--false-positive", type=float, default=0.1,
                   help="per frame: probability of a false positive (default 0.1)")
    q.set_defaults(func=cmd_perturb)


def _add_tracking_commands(sub) -> None:
    """`mots track` and `mots tune`."""
    t = sub.add_parser("track", help="track detections with the TrackR-CNN tracker into KITTI MOTS results",
                       description="Associate TrackR-CNN detections (one line per detection: 'frame x0 y0 x1 y1 "
                                   "score class_id height width rle e_0 ... e_{D-1}') into tracks per class by "
                                   "embedding distance and optional mask-IoU and box-centre cues (thesis ch. 3), "
                                   "make the masks disjoint by score and write OUT/SEQ.txt in KITTI MOTS "
                                   "format for `mots eval`.")
    t.add_argument("--detections", required=True, metavar="DETS", help="a detection file SEQ.txt or a folder of them")
    t.add_argument("--config", metavar="YAML",
                   help="tracker parameters, a ROS 2 parameter file like config/tracker.yaml (default: the built-in "
                        "defaults, the same as config/tracker.yaml)")
    t.add_argument("--out", required=True, metavar="DIR", help="results folder: SEQ.txt per detection file")
    t.set_defaults(func=cmd_track)

    u = sub.add_parser("tune", help="random search for the tracker parameters on training sequences",
                       description="Random search over the tracker parameters (thesis 4.1: 1000 trials on the "
                                   "training set): each trial tracks every sequence of --seqmap and evaluates it; "
                                   "the car parameters of the trial with the best car sMOTSA and the pedestrian "
                                   "parameters of the trial with the best pedestrian sMOTSA are written to --out "
                                   "(the same format as config/tracker.yaml). Deterministic for a seed.")
    source = u.add_mutually_exclusive_group(required=True)
    source.add_argument("--detections", metavar="DETS", help="folder of SEQ.txt detection files (tracker only)")
    source.add_argument("--outputs", metavar="DIR", help="folder of SEQ.npz network outputs of a pixel-embedding "
                                                        "model (mots run --save-outputs): clustering and linking")
    u.add_argument("--gt", required=True, help="ground-truth folder (SEQ.txt or SEQ/ pngs)")
    u.add_argument("--seqmap", required=True, help="seqmap of the training sequences to tune on")
    u.add_argument("--val-seqmap", help="also score the chosen parameters on these sequences")
    u.add_argument("--trials", type=int, help="random tracker trials (default 1000; with --outputs: linking "
                                             "trials per clustering trial, default 100)")
    u.add_argument("--cluster-trials", type=int, default=40, help="with --outputs: clustering trials (default 40)")
    u.add_argument("--subsample", nargs="+", default=["1"], metavar="S [CLASS=S]",
                   help="with --outputs: cluster every s-th output row and column, the rest by nearest neighbour "
                        "(default 1: all; written to --out); CLASS=S gives a class its own, e.g. '2 pedestrian=1'")
    u.add_argument("--images", metavar="DIR",
                   help="with --outputs: the camera images of the outputs (DIR/SEQ/FRAME.png, as mots run --images): "
                        "every trial upsamples the masks guided by them (clustering.upsampling guided)")
    u.add_argument("--features", choices=("embedding", "centre", "both"),
                   help="with --outputs: cluster these features in every trial (default: embedding, or searched "
                        "when the outputs hold centre votes; thesis Fig. 6.27)")
    u.add_argument("--linker", choices=("clusters", "votes"),
                   help="with --outputs: link clusters by their representatives (default) or by their votes for "
                        "previous frames (outputs of a model with past_votes; thesis 6.3.2)")
    u.add_argument("--start", metavar="TUNED.yaml",
                   help="with --outputs: a tuned file (e.g. of the weights the model was fine-tuned from) whose "
                        "clustering and linking parameters are the first trials, in place of the thesis's defaults")
    u.add_argument("--refine", action="store_true",
                   help="with --outputs: then search a grid of min_cluster_size and selection_epsilon around the "
                        "chosen clustering, class by class (35 trials each)")
    u.add_argument("--jobs", type=int, help="parallel worker processes (default: all CPU cores)")
    u.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    u.add_argument("--out", required=True, metavar="BEST.yaml", help="where to write the chosen parameters")
    u.add_argument("--log", metavar="TRIALS.csv", help="also write every trial's parameters and scores as CSV")
    u.set_defaults(func=cmd_tune)


def _add_model_commands(sub) -> None:
    """`mots train`, `mots infer` and `mots run`."""
    tr = sub.add_parser("train", help="train a TrackR-CNN or pixel-embedding model on a KITTI MOTS layout",
                        description="Train the model family of the config (TrackR-CNN, thesis ch. 3-4, or pixel "
                                    "embeddings, 6.2) on DATA/images/SEQ/*.png + "
                                    "DATA/instances_txt/SEQ.txt (what `mots synth` writes). Multi-GPU: "
                                    "torchrun --nproc_per_node N -m mots_ros.cli train ...")
    tr.add_argument("--config", required=True, help="YAML with model: and train: sections, e.g. "
                                                    "config/trackrcnn_small.yaml or config/pixel_embedding_small.yaml")
    tr.add_argument("--data", required=True, help="data root holding images/ and instances_txt/")
    tr.add_argument("--train-seqmap", required=True, help="seqmap of the training sequences")
    tr.add_argument("--val-seqmap", help="seqmap of validation sequences (scored with mots eval)")
    tr.add_argument("--out", required=True, help="run folder: checkpoints, log.csv, tensorboard/, val/")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    tr.add_argument("--init", metavar="CKPT", help="start from the weights of CKPT (a mots train checkpoint) "
                                                  "wherever name and shape match; the others are listed and "
                                                  "keep their initialisation (fine-tuning a changed model)")
    tr.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    tr.set_defaults(func=cmd_train)

    inf = sub.add_parser("infer", help="streaming TrackR-CNN inference on one sequence folder",
                         description="Push the frames of SEQ_DIR one at a time through the streaming model and write "
                                     "one line per detection: frame x0 y0 x1 y1 score class height width rle "
                                     "association vector.")
    inf.add_argument("--checkpoint", required=True, help="checkpoint written by mots train")
    inf.add_argument("--images", required=True, help="folder of one sequence's frames (FRAME.png/.jpg)")
    inf.add_argument("--out", required=True, help="detections file to write")
    inf.add_argument("--lookahead", type=int, help="future frames per window (default: the trained one; 0: causal)")
    inf.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    _precision_argument(inf)
    inf.set_defaults(func=cmd_infer)

    rn = sub.add_parser("run", help="inference and tracking of every sequence of a seqmap",
                        description="For each sequence of SEQMAP: streaming inference on IMAGES/SEQ/ and tracking, "
                                    "written as OUT/SEQ.txt for mots eval. Without --checkpoint the shipped demo "
                                    "weights and their tuned tracker parameters are used.")
    rn.add_argument("--images", required=True, help="folder with one image folder per sequence")
    rn.add_argument("--seqmap", required=True, help="seqmap of the sequences to run")
    rn.add_argument("--out", required=True, help="results folder")
    rn.add_argument("--checkpoint", help="checkpoint (default: the shipped demo weights of --model)")
    rn.add_argument("--model", default="trackrcnn", choices=("trackrcnn", "pixel_embedding"),
                    help="family of the shipped demo weights used without --checkpoint (default trackrcnn; "
                         "pixel_embedding: the third training stage, see README)")
    rn.add_argument("--tracker-config", help="tracker YAML (default: the parameters tuned for the checkpoint)")
    rn.add_argument("--lookahead", type=int, help="future frames per window (default: the trained one)")
    rn.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    _precision_argument(rn)
    rn.add_argument("--save-detections", metavar="DIR", help="also write the detections (DIR/SEQ.txt), e.g. for "
                                                             "mots tune")
    rn.add_argument("--save-outputs", metavar="DIR", help="pixel-embedding models: also write the per-pixel network "
                                                          "outputs (DIR/SEQ.npz) for mots tune --outputs")
    rn.set_defaults(func=cmd_run)


def _add_graph_commands(sub) -> None:
    """`mots demo` and `mots launch` (the ROS 2 node graph)."""
    m = sub.add_parser("demo", help="the main job: a camera sequence through the ROS 2 node graph",
                       description="Replay a built-in synthetic sequence (or --images / --bag) as a camera topic "
                                   "through inference_node -> tracker_node (the real ROS 2 node graph, as "
                                   "separate processes, with the shipped demo weights); writes the overlay video, "
                                   "prints sMOTSA (where ground truth is known) and frames per second.")
    m.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    m.add_argument("--seed", type=int, default=0, help="seed of the synthetic sequence (default 0; the demo "
                                                       "weights were trained on seed 1)")
    m.add_argument("--frames", type=int, default=60, help="frames of the synthetic sequence (default 60)")
    m.add_argument("--size", type=_size, default=DEMO_SIZE,
                   help="HxW of the synthetic frames (default 375x1242, KITTI's, what the demo weights were "
                        "trained on)")
    m.add_argument("--images", help="an image folder (KITTI MOTS / MOTS20 layout) instead of synthetic data")
    m.add_argument("--bag", help="a rosbag2 with sensor_msgs/Image or CompressedImage (on CAMERA/compressed) "
                                 "instead of synthetic data")
    m.add_argument("--gt", help="ground-truth folder (instances_txt) for --images / --bag")
    m.add_argument("--checkpoint", help="checkpoint (default: the shipped demo weights of --model)")
    m.add_argument("--model", default="trackrcnn", choices=("trackrcnn", "pixel_embedding"),
                   help="family of the shipped demo weights used without --checkpoint (default trackrcnn; "
                        "pixel_embedding: the third training stage, see README)")
    m.add_argument("--tracker-config", help="tracker parameter file (default: the demo weights' tuned one)")
    m.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    m.set_defaults(func=cmd_demo)

    la = sub.add_parser("launch", help="start the ROS 2 node graph without ros2 launch (pip-only set-up)",
                        description="Start the nodes of launch/tracker.launch.py with the same parameter file, "
                                    "arguments and remappings as separate processes; Ctrl-C stops them.")
    la.add_argument("graph", choices=["tracker"], help="the launch file (tracker: tracker.launch.py)")
    la.add_argument("--camera-topic", default="/camera/image_raw", help="sensor_msgs/Image input topic")
    la.add_argument("--model", default="auto", choices=("auto", "trackrcnn", "pixel_embedding"),
                    help="model family (default auto: the checkpoint's arch)")
    la.add_argument("--checkpoint", default="", help="checkpoint (default: the shipped demo weights)")
    la.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    la.add_argument("--namespace", default="", help="namespace of the nodes and their topics")
    la.add_argument("--use-sim-time", action="store_true", help="use /clock (replayed bags)")
    la.add_argument("--rviz", action="store_true", help="also start rviz2 with rviz/mots.rviz when installed")
    la.add_argument("--respawn", action="store_true",
                    help="start a node again 1 s after it exits (a new tracker_node restarts the ids)")
    la.add_argument("--lifecycle", action="store_true",
                    help="managed (lifecycle) nodes: they wait unconfigured for ros2 lifecycle set or a manager")
    la.add_argument("--composed", action="store_true",
                    help="both nodes in one process (composed_nodes): the detections reach the tracker by a call, "
                         "one middleware hop less per frame; the tracker then takes no detections from others")
    la.add_argument("--params-file", help="parameter file (default config/tracker.yaml)")
    la.add_argument("--extra-params", action="append", metavar="YAML",
                    help="further parameter files applied after --params-file (repeatable)")
    la.set_defaults(func=cmd_launch)


def _add_bag_commands(sub) -> None:
    """`mots bag` and its subcommands."""
    bg = sub.add_parser("bag", help="rosbag2 tools: from-sequence, evaluate, record, to-txt",
                        description="rosbag2 (mcap) tools with the rosbags library: write image folders as bags, "
                                    "replay bags through the nodes and score them, record and convert tracks.")
    bsub = bg.add_subparsers(dest="bag_command", metavar="BAG_COMMAND", required=True)
    b = bsub.add_parser("from-sequence", description="Write the frames of an image folder (KITTI MOTS / MOTS20 / "
                                                     "mots synth layout) as rgb8 sensor_msgs/Image messages "
                                                     "(or --compressed: jpeg CompressedImages), stamped start + "
                                                     "i / rate, to a new rosbag2 (mcap); the "
                                                     "sequence name and first frame go into the bag's metadata.",
                                         help="an image folder -> rosbag2 (mcap) of stamped images")
    b.add_argument("images", help="folder of frames (FRAME.png / FRAME.jpg)")
    b.add_argument("out_bag", help="new bag folder")
    b.add_argument("--rate", type=float, default=10.0, help="frames per second of the stamps (default 10)")
    b.add_argument("--topic", default="/camera/image_raw", help="image topic (default /camera/image_raw)")
    b.add_argument("--frame-id", default="camera", help="header frame_id (default camera)")
    b.add_argument("--compressed", action="store_true",
                   help="jpeg sensor_msgs/CompressedImage on TOPIC/compressed (image_transport's convention) "
                        "instead of rgb8 Images; evaluate and demo --bag replay them with image_transport compressed")
    b = bsub.add_parser("evaluate", help="replay a bag through the nodes and score the tracks with mots eval",
                        description="Start the nodes (or use running ones), replay the bag's images (as fast as "
                                    "the nodes keep up, never dropping, or --realtime), record the tracks, map "
                                    "stamps back to frames, write KITTI MOTS txt and run mots eval; prints the "
                                    "scores, frames published/received/dropped and latency p50/p95.")
    b.add_argument("bag", help="rosbag2 with sensor_msgs/Image or CompressedImage (on CAMERA/compressed)")
    b.add_argument("--gt", required=True, help="ground-truth folder (instances_txt)")
    b.add_argument("--seqmap", required=True, help="seqmap holding the bag's sequence")
    b.add_argument("--sequence", help="the seqmap sequence of the bag (default: from the bag's metadata)")
    b.add_argument("--realtime", action="store_true", help="publish at the recorded rate (frames may drop)")
    b.add_argument("--json", help="write the mots eval JSON plus a 'transport' section")
    b.add_argument("--out", help="folder for results/ and logs/ (default: a new temporary folder)")
    b.add_argument("--topic", help="image topic (default: the bag's only image topic)")
    b.add_argument("--checkpoint", help="checkpoint (default: the shipped demo weights)")
    b.add_argument("--tracker-config", help="tracker parameter file (default: the demo weights' tuned one)")
    b.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    b.add_argument("--use-running", action="store_true", help="use nodes that are already running")
    b.add_argument("--namespace", default="", help="namespace of the nodes")
    b = bsub.add_parser("record", description="Subscribe to the given topics (TrackedInstances, Detections or "
                                              "Image) and write every message to a new mcap bag until Ctrl-C or "
                                              "--duration.",
                                  help="record topics (tracks, images, detections) to a new bag until Ctrl-C")
    b.add_argument("out_bag", help="new bag folder")
    b.add_argument("--topics", nargs="+", default=["/tracks"], help="topics (default /tracks)")
    b.add_argument("--duration", type=float, help="stop after this many seconds")
    b = bsub.add_parser("to-txt", description="Convert the TrackedInstances of a bag written by mots bag record to "
                                              "KITTI MOTS txt; frame numbers come from the image bag that was "
                                              "replayed (first frame + position of the stamp).",
                                  help="tracks of a recorded bag -> KITTI MOTS txt, frames from the replayed bag")
    b.add_argument("tracks_bag", help="bag written by mots bag record")
    b.add_argument("--images-bag", required=True, help="the image bag that was replayed (frame numbering)")
    b.add_argument("--out", required=True, help="results folder (SEQ.txt is written there)")
    b.add_argument("--topic", help="tracks topic (default: the bag's only TrackedInstances topic)")
    b.add_argument("--sequence", help="sequence name (default: from the images bag's metadata)")
    bg.set_defaults(func=cmd_bag)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mots", description="Multi-Object Tracking and Segmentation tools (mots_ros).")
    p.add_argument("--version", action="version", version=f"mots_ros {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_data_commands, _add_tracking_commands, _add_model_commands, _add_graph_commands,
                _add_bag_commands):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except MotsError as e:
        print(f"mots {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

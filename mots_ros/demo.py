"""`mots demo`: the main job end to end through the real ROS 2 node graph (no ROS install, no GPU needed).

A built-in synthetic sequence (``mots synth``, a seed the demo weights were not trained on), an image folder or a
bag is replayed as a camera topic to inference_node -> tracker_node (separate processes, started as
`mots launch tracker` does, with the shipped demo weights); the overlay images the tracker node publishes are
written as a video, and the tracks are scored with `mots eval` where ground truth is known.
"""
from __future__ import annotations

import json
import os
import shutil
import time

from mots_ros import MotsError
from mots_ros.outputs import output_dir

DEMO_SIZE = (375, 1242)  # KITTI's HxW, the frames the demo weights were last trained on


def run_demo(out: str = "out/demo", seed: int = 0, images: str | None = None, bag: str | None = None,
             gt: str | None = None, checkpoint: str | None = None, tracker_config: str | None = None,
             device: str = "auto", frames: int = 60, size: tuple[int, int] = DEMO_SIZE) -> dict:
    from mots_ros.eval.evaluate import nan_to_none
    from mots_ros.eval.report import format_table
    from mots_ros.ros.bag import from_sequence, replay_bag, score_result, transport_line
    from mots_ros.viz.render import write_video

    t0 = time.perf_counter()
    output_dir(out)
    if bag is None:
        if images is None:
            from mots_ros.data.synth import generate

            data = os.path.join(out, "data")
            shutil.rmtree(data, ignore_errors=True)
            generate(data, sequences=1, frames=frames, size=size, seed=seed)
            images, gt = os.path.join(data, "images", "0000"), gt or os.path.join(data, "instances_txt")
        bag = os.path.join(out, "camera.mcap")
        shutil.rmtree(bag, ignore_errors=True)
        from_sequence(images, bag, rate=10.0)
    first, name, result = replay_bag(bag, out, checkpoint=checkpoint, tracker_config=tracker_config, device=device,
                                     overlay=True)
    if not result.received:
        raise MotsError(f"no tracks came back from the nodes (logs in {os.path.join(out, 'logs')})")
    if len(result.overlays) < result.received:
        print(f"warning: {result.received - len(result.overlays)} of {result.received} overlay images did not "
              f"arrive; the video has the others")
    video = write_video((result.overlays[f] for f in sorted(result.overlays)), os.path.join(out, "overlay.mp4"))
    transport = result.transport()
    report = {"transport": transport}
    if gt:
        name = name or "0000"
        scores = score_result(result, name, (first, first + result.published - 1), gt, out)
        print(format_table(scores, fields=("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "TP", "FP", "FN", "IDS")))
        print(f"\nsMOTSA car {scores['car']['combined']['sMOTSA']:.1f} / pedestrian "
              f"{scores['pedestrian']['combined']['sMOTSA']:.1f}")
        report.update(nan_to_none(scores))
    print(transport_line(transport) + " through inference_node -> tracker_node")
    with open(os.path.join(out, "demo.json"), "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"demo took {time.perf_counter() - t0:.1f} s; outputs in {out}/: {os.path.basename(video)} (overlay video "
          f"from the /overlay topic), results/ (KITTI MOTS txt), demo.json, camera.mcap (the replayed bag), "
          f"logs/ (node logs)" + (", data/ (synthetic images and ground truth)" if os.path.isdir(
              os.path.join(out, "data")) else ""))
    return report

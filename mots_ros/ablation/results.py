"""The ablation's table and pictures: every run's scores per class (and per sequence) as CSV, and one box plot
per class in the style of the thesis's figures (median, quartiles, whiskers at min and max, the runs as dots; boxes
over one model's held-out sequences also mark the score over all of them)."""
from __future__ import annotations

import csv

import numpy as np

METRICS = ("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA")
CLASSES = ("car", "pedestrian")
FIELDS = ("ablation", "variant", "run", "model", "class", "sequence", *METRICS)


def rows(name: str, runs: list[tuple[str, str, str, dict]]) -> list[dict]:
    """CSV rows of ``runs`` (variant, run label, model, scores): per class the combined scores (sequence
    ``all``), then each sequence's."""
    out = []
    for variant, run, model, scores in runs:
        for cls in CLASSES:
            parts = [("all", scores[cls]["combined"])] + sorted(scores[cls]["per_sequence"].items())
            for seq, values in parts:
                out.append({"ablation": name, "variant": variant, "run": run, "model": model, "class": cls,
                            "sequence": seq, **{m: values.get(m) for m in METRICS}})
    return out


def write_csv(path: str, table: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        for row in table:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})


def box_values(table: list[dict], variants: list[str], cls: str, metric: str = "sMOTSA"
               ) -> tuple[list[np.ndarray], str]:
    """Per variant the values a box shows and what they are: the runs' combined scores when some variant has two
    or more runs, else (one model, one run) the held-out sequences' scores."""
    combined = [r for r in table if r["class"] == cls and r["sequence"] == "all"]
    per_run = max((sum(r["variant"] == v for r in combined) for v in variants), default=0) > 1
    chosen = combined if per_run else [r for r in table if r["class"] == cls and r["sequence"] != "all"]
    values = [np.array([r[metric] for r in chosen if r["variant"] == v and r[metric] is not None], float)
              for v in variants]
    return values, "runs" if per_run else "held-out sequences"


def box_plot(path: str, title: str, table: list[dict], variants: list[str], cls: str,
             metric: str = "sMOTSA") -> str:
    """A PNG box plot of ``metric`` for class ``cls``, one box per variant (thesis style: whiskers min to max)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values, unit = box_values(table, variants, cls, metric)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(variants) + 1.5), 3.6), dpi=120)
    shown = [v if len(v) else np.array([np.nan]) for v in values]
    ax.boxplot(shown, whis=(0, 100), widths=0.5, medianprops={"color": "tab:orange", "linewidth": 2})
    for i, v in enumerate(values, 1):
        ax.plot(np.full(len(v), i) + np.linspace(-0.08, 0.08, len(v)) * (len(v) > 1), v, "o", ms=3,
                color="tab:blue", alpha=0.7)
    if unit != "runs":  # the boxes hold sequences: mark each variant's score over all of them
        combined = {r["variant"]: r[metric] for r in table if r["class"] == cls and r["sequence"] == "all"}
        ys = [combined.get(v) for v in variants]
        ax.plot([i for i, y in enumerate(ys, 1) if y is not None], [y for y in ys if y is not None], "D",
                ms=5, color="tab:red", label="all sequences")
        ax.legend(fontsize=7, loc="best")
    ax.set_xticks(range(1, len(variants) + 1), [f"{v}\n(n={len(x)})" for v, x in zip(variants, values)],
                  fontsize=8)
    ax.set_ylabel(f"{cls} {metric}")
    ax.set_title(f"{title}: {cls} ({unit})", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def summary(table: list[dict], variants: list[str], metric: str = "sMOTSA") -> str:
    """Per variant and class the median (min-max) of the boxes' values, as a text table."""
    lines = [f"{'variant':<24} " + "  ".join(f"{c + ' ' + metric:>26}" for c in CLASSES)]
    boxes = {cls: box_values(table, variants, cls, metric) for cls in CLASSES}
    for i, variant in enumerate(variants):
        cells = []
        for cls in CLASSES:
            v = boxes[cls][0][i]
            cells.append(f"{np.median(v):6.1f} ({v.min():.1f}..{v.max():.1f}, n={len(v)})" if len(v) else "-")
        lines.append(f"{variant:<24} " + "  ".join(f"{c:>26}" for c in cells))
    return "\n".join(lines)

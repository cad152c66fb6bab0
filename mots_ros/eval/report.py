"""Readable tables of `mots eval` results, in the spirit of mots_tools' summary (scores in percent)."""
from __future__ import annotations

import math

TABLE_FIELDS = ("sMOTSA", "MOTSA", "MOTSP", "MOTSAL", "IDF1", "IDP", "IDR", "HOTA", "DetA", "AssA", "LocA",
                "F_DR", "R_DR", "P_DR", "R_DR_w", "Recall", "Precision", "TP", "FP", "FN", "IDS", "Frag",
                "MT", "PT", "ML", "GT_dets", "GT_tracks", "TR_dets", "TR_tracks", "TR_ignored")


def _cell(v) -> str:
    if isinstance(v, int):
        return str(v)
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.1f}"


def format_table(results: dict, fields=TABLE_FIELDS) -> str:
    """One block per class: a header, the combined row and one row per sequence."""
    blocks = []
    for cname, res in results.items():
        rows = [("all", res["combined"])] + list(res["per_sequence"].items())
        cells = [[_cell(r.get(f)) for f in fields] for _, r in rows]
        widths = [max(5, len(f), *(len(c[k]) for c in cells)) + 1 for k, f in enumerate(fields)]  # one space at least
        name_w = max(4, *(len(n) for n, _ in rows)) + 1
        lines = [f"{cname}".ljust(name_w) + "".join(f.rjust(w) for f, w in zip(fields, widths))]
        for (name, _), row in zip(rows, cells):
            lines.append(name.ljust(name_w) + "".join(c.rjust(w) for c, w in zip(row, widths)))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)

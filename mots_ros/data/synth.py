"""The built-in synthetic KITTI-MOTS-like data set: cars and pedestrians on a street, with exact ground truth.

Each sequence is a static side view of a street (sky, buildings, far sidewalk, two-lane road, parking strip,
near sidewalk). Depth ``s`` runs from 0 at the horizon to 1 at the bottom row and sets an object's foot row
and its scale, so lower objects are bigger. Cars drive along the lanes or stand parked, pedestrians walk
along the sidewalks or cross the road, swinging legs and arms; all enter and leave the image. Objects are
drawn far to near, so near ones hide far ones, and clutter blobs (hedges, crates) are ignore regions.

The ground truth is the label map of the rendered frame: exact and disjoint by construction. Objects with
fewer than ``MIN_PIXELS`` visible pixels are left out of it. Layout written by :func:`generate`::

    OUT/images/SEQ/FRAME.png    RGB frames, SEQ = 0000, 0001, ..., FRAME = 000000, 000001, ...
    OUT/instances_txt/SEQ.txt   KITTI MOTS txt (ids class*1000+instance, ignore 10000)
    OUT/train.seqmap, OUT/val.seqmap (a single sequence: train.seqmap only)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.data import formats, rle
from mots_ros.outputs import output_dir

MIN_PIXELS = 20
MIN_SIZE = 32
# street bands in depth s (0 = horizon, 1 = bottom row)
FAR_CURB, NEAR_CURB = 0.32, 0.80
CAR_LANES = (0.42, 0.58)
LANE_MARK = 0.50
PARKING = 0.72
# object height at s = 1 as a fraction of the image height
CAR_HEIGHT, PED_HEIGHT = 0.42, 0.62
PED_ASPECT = 0.68  # box width / height of a pedestrian (room for swinging limbs)
BYTES_PER_PIXEL = 100  # peak memory of generate() per image pixel (measured: about 80 at 4.5 and 9 megapixels)

SKIES = np.array([[[70, 120, 200], [175, 205, 235]],  # clear
                  [[140, 145, 155], [205, 205, 210]],  # overcast
                  [[70, 70, 130], [240, 170, 120]]], np.float32)  # dusk
WALLS = np.array([[150, 70, 50], [200, 185, 150], [120, 120, 125], [170, 190, 200], [220, 200, 170],
                  [90, 80, 75]], np.float32)
CAR_PAINT = np.array([[200, 30, 30], [30, 60, 170], [235, 235, 235], [160, 165, 170], [25, 25, 30],
                      [30, 110, 60], [230, 190, 40], [220, 110, 30], [110, 20, 40], [90, 140, 200]], np.float32)
SKIN = np.array([[255, 220, 180], [225, 180, 140], [190, 140, 100], [140, 95, 60], [95, 65, 45]], np.float32)
HAIR = np.array([[20, 15, 10], [70, 45, 25], [150, 110, 60], [200, 170, 110], [120, 120, 120]], np.float32)
PANTS = np.array([[40, 45, 80], [30, 30, 35], [100, 100, 105], [170, 150, 110], [60, 50, 40]], np.float32)
CLUTTER = np.array([[[40, 90, 30], [70, 130, 40], [25, 60, 25]],  # hedge
                    [[120, 85, 50], [160, 120, 70], [80, 55, 35]],  # crates
                    [[90, 90, 95], [150, 40, 40], [200, 200, 60]]], np.float32)  # junk
GLASS = np.array([55, 75, 95], np.float32)
DARK = np.array([30, 30, 32], np.float32)


# ------------------------------------------------------------------------------------------ shapes
# All shapes take pixel-centre coordinates lx (1, w) and ly (h, 1) and return an (h, w) boolean mask.

def _rrect(lx, ly, x0, y0, x1, y1, r):
    """Rectangle [x0, x1] x [y0, y1] with corners rounded by radius r."""
    dx = np.maximum(np.maximum(x0 + r - lx, lx - (x1 - r)), 0)
    dy = np.maximum(np.maximum(y0 + r - ly, ly - (y1 - r)), 0)
    return dx * dx + dy * dy <= r * r


def _ellipse(lx, ly, cx, cy, rx, ry):
    return ((lx - cx) / rx) ** 2 + ((ly - cy) / ry) ** 2 <= 1


def _segment(lx, ly, ax, ay, bx, by, r):
    """Capsule of radius r around the segment a-b."""
    dx, dy = bx - ax, by - ay
    f = np.clip(((lx - ax) * dx + (ly - ay) * dy) / (dx * dx + dy * dy), 0, 1)
    return (lx - ax - f * dx) ** 2 + (ly - ay - f * dy) ** 2 <= r * r


def _trapezoid(lx, ly, y0, y1, left0, right0, left1, right1, inset=0.0):
    """Rows y0..y1 between the lines left0->left1 and right0->right1 (top->bottom), shrunk by inset."""
    f = (ly - y0) / (y1 - y0)
    left, right = left0 + f * (left1 - left0), right0 + f * (right1 - right0)
    return (ly >= y0 + inset) & (ly <= y1 - inset) & (lx >= left + inset) & (lx <= right - inset)


def _grid(x0, y0, w, h, height, width):
    """Row, column and pixel-centre coordinates of the box clipped to the image; None when outside."""
    c0, c1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x0 + w)), width)
    r0, r1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y0 + h)), height)
    if c0 >= c1 or r0 >= r1:
        return None
    return (r0, c0, np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5,
            np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5)


class _Canvas:
    """Colour and mask of one object in its box; later parts cover earlier ones."""

    def __init__(self, shape):
        self.rgb = np.zeros(shape + (3,), np.float32)
        self.mask = np.zeros(shape, bool)

    def paint(self, part, colour):
        part = np.broadcast_to(part, self.mask.shape)
        self.rgb[part] = np.broadcast_to(np.asarray(colour, np.float32), self.rgb.shape)[part]
        self.mask |= part


# ----------------------------------------------------------------------------------------- objects

@dataclass
class _Mover:
    """A car or pedestrian: foot point x = x_mid + vx * (t - t_mid), depth s = s_mid + vs * (t - t_mid)."""

    id: int
    x_mid: float
    s_mid: float
    t_mid: float
    vx: float  # pixels per frame
    vs: float  # depth per frame
    size: float  # height in pixels at s = 1
    aspect: float  # box width / height
    facing: int  # +1 right, -1 left
    look: dict

    def depth(self, t: int) -> float:
        return float(np.clip(self.s_mid + self.vs * (t - self.t_mid), 0.14, 0.98))

    def draw(self, scene: "_Scene", t: int):
        """``(row, col, mask, rgb)`` of the object's box in frame t, clipped to the image; None when outside."""
        s = self.depth(t)
        h = self.size * s
        w = h * self.aspect
        x0, top = self.x_mid + self.vx * (t - self.t_mid) - w / 2, scene.row(s) - h
        grid = _grid(x0, top, w, 1.03 * h, scene.height, scene.width)
        if grid is None:
            return None
        r0, c0, px, py = grid
        canvas = _Canvas((py.shape[0], px.shape[1]))
        self.paint(canvas, px - x0 if self.facing > 0 else x0 + w - px, py - top, w, h, t)
        return r0, c0, canvas.mask, canvas.rgb


class _Car(_Mover):
    def paint(self, c: _Canvas, lx, ly, w, h, t):
        """Side view, front at lx = w: body, cabin with windows, lights, wheels in arches."""
        k = self.look
        body = _rrect(lx, ly, 0, 0.36 * h, w, 0.80 * h, 0.14 * h)
        bb, tb, tf, bf = (f * w for f in k["cabin"])  # cabin edges: bottom/top back, top/bottom front
        cabin = _trapezoid(lx, ly, k["roof"] * h, 0.42 * h, tb, tf, bb, bf)
        shade = (1.15 - 0.4 * ly / h)[..., None]
        c.paint(body | cabin, k["paint"] * shade)
        if k["pattern"] == 1:  # racing stripe
            c.paint(body & (np.abs(ly - 0.56 * h) < 0.04 * h), k["paint2"] * shade)
        elif k["pattern"] == 2:  # two-tone roof
            c.paint(cabin, k["paint2"] * shade)
        pillar = 0.5 * (bb + bf)
        windows = (_trapezoid(lx, ly, k["roof"] * h, 0.42 * h, tb, tf, bb, bf, inset=0.05 * h)
                   & (np.abs(lx - pillar) > max(0.7, 0.025 * w)))
        c.paint(windows, GLASS * (0.8 + 0.8 * ly / h)[..., None])
        c.paint(body & (np.abs(lx - pillar) < max(0.5, 0.006 * w)) & (ly > 0.40 * h) & (ly < 0.70 * h), DARK)
        c.paint(body & (ly > 0.70 * h) & (ly < 0.76 * h), DARK + 30)  # bumper line
        c.paint(body & _rrect(lx, ly, 0.955 * w, 0.44 * h, 1.1 * w, 0.54 * h, 0.02 * h), (250, 240, 190))
        c.paint(body & _rrect(lx, ly, -0.1 * w, 0.42 * h, 0.04 * w, 0.54 * h, 0.02 * h), (200, 20, 20))
        for cx in (0.2 * w, 0.8 * w):
            c.paint(body & _ellipse(lx, ly, cx, 0.8 * h, 0.24 * h, 0.24 * h), DARK - 15)
            c.paint(_ellipse(lx, ly, cx, 0.8 * h, 0.19 * h, 0.19 * h), DARK - 10)
            c.paint(_ellipse(lx, ly, cx, 0.8 * h, 0.09 * h, 0.09 * h), k["hub"])


class _Pedestrian(_Mover):
    def paint(self, c: _Canvas, lx, ly, w, h, t):
        """Side view facing +x: limbs swing with the walking phase; far limbs darker, drawn first."""
        k = self.look
        lx = lx - w / 2
        swing = k["swing"] * np.sin(k["phase"] + k["omega"] * t)
        hip, shoulder, tw = 0.52 * h, 0.19 * h, k["torso"] * h

        def limb(y0, angle, length, r):
            return _segment(lx, ly, 0, y0, length * np.sin(angle), y0 + length * np.cos(angle), r)

        def leg(angle, dim):
            fx, fy = 0.46 * h * np.sin(angle), hip + 0.46 * h * np.cos(angle)
            c.paint(limb(hip, angle, 0.46 * h, 0.042 * h), k["pants"] * dim)
            c.paint(_segment(lx, ly, fx, fy, fx + 0.06 * h, fy, 0.025 * h), DARK * dim)

        def arm(angle, dim):
            c.paint(limb(shoulder, angle, 0.31 * h, 0.032 * h), k["shirt"] * dim)
            c.paint(_ellipse(lx, ly, 0.31 * h * np.sin(angle), shoulder + 0.31 * h * np.cos(angle),
                             0.03 * h, 0.03 * h), k["skin"] * dim)

        arm(-0.8 * swing, 0.7)
        leg(swing, 0.7)
        leg(-swing, 1.0)
        if k["long_hair"]:
            c.paint(_rrect(lx, ly, -0.07 * h, 0.06 * h, -0.01 * h, 0.22 * h, 0.02 * h), k["hair"])
        if k["bag"] is not None:
            c.paint(_rrect(lx, ly, -tw - 0.07 * h, 0.2 * h, -tw + 0.02 * h, 0.42 * h, 0.02 * h), k["bag"])
        torso = _rrect(lx, ly, -tw, 0.16 * h, tw, k["torso_end"] * h, 0.04 * h)
        c.paint(_rrect(lx, ly, -0.025 * h, 0.12 * h, 0.025 * h, 0.18 * h, 0.01 * h), k["skin"])  # neck
        c.paint(torso, k["shirt"])
        if k["pattern"] == 1:  # horizontal stripes
            c.paint(torso & (np.sin(ly * (2 * np.pi / (0.06 * h))) > 0), k["shirt2"])
        elif k["pattern"] == 2:  # open jacket
            c.paint(torso & (lx > 0.3 * tw), k["shirt2"])
        head = _ellipse(lx, ly, 0.01 * h, 0.085 * h, 0.062 * h, 0.075 * h)
        c.paint(head, k["skin"])
        c.paint(head & ((ly < 0.07 * h) | (lx < -0.02 * h)), k["hair"])
        arm(0.8 * swing, 1.0)


@dataclass
class _Clutter:
    """A static clutter blob: an ignore region."""

    s: float
    row: int
    col: int
    mask: np.ndarray
    rgb: np.ndarray
    id: int = formats.IGNORE_ID

    def depth(self, t: int) -> float:
        return self.s

    def draw(self, scene: "_Scene", t: int):
        return self.row, self.col, self.mask, self.rgb


@dataclass
class _Scene:
    height: int
    width: int
    horizon: float
    background: np.ndarray  # (H, W, 3) float32
    objects: list

    def row(self, s: float) -> float:
        """Image row of the foot point at depth s."""
        return self.horizon + s * (self.height - self.horizon)


# ------------------------------------------------------------------------------------------- scene

def _smooth_noise(rng, h, w, cell):
    """(h, w) values in [0, 1] varying over about ``cell`` pixels."""
    small = rng.random((max(2, h // cell), max(2, w // cell)), dtype=np.float32)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))


def _background(rng, h, w, horizon):
    """Sky, buildings with window grids, sidewalks with perspective joints, road with curbs and dashed lane."""
    y = np.arange(h, dtype=np.float32)[:, None] + 0.5
    x = np.arange(w, dtype=np.float32)[None, :] + 0.5
    sky = SKIES[rng.integers(len(SKIES))] + rng.uniform(-15, 15, (2, 3)).astype(np.float32)
    f = np.clip(y / horizon, 0, 1)[..., None]
    img = np.ascontiguousarray(np.broadcast_to(sky[0] + f * (sky[1] - sky[0]), (h, w, 3)))

    left = -rng.uniform(0, 0.1) * w
    while left < w:
        bw = rng.uniform(0.06, 0.2) * w
        c0, c1 = max(int(left), 0), min(int(left + bw), w)
        r0, r1 = int(horizon * rng.uniform(0.05, 0.7)), int(np.ceil(horizon))
        block = img[r0:r1, c0:c1]
        block[:] = WALLS[rng.integers(len(WALLS))] + rng.uniform(-20, 20, 3)
        px, py = max(3, round(rng.uniform(0.015, 0.035) * w)), max(3, round(rng.uniform(0.05, 0.09) * h))
        lx, ly = np.arange(c1 - c0)[None, :], np.arange(r1 - r0)[:, None]
        window = (lx % px >= 0.35 * px) & (ly % py >= 0.4 * py)
        lit = ((lx // px) * 7 + (ly // py) * 3) % 5 == 0
        block[window & ~lit] = GLASS
        block[window & lit] = (230, 210, 140)
        left += bw

    s = (y - horizon) / (h - horizon)
    road = rng.uniform(65, 105) + rng.uniform(-5, 5, 3)
    walk = rng.uniform(125, 170) * np.array([1.0, 0.96, 0.9])
    on_road = (s >= FAR_CURB) & (s < NEAR_CURB)
    texture = (0.9 + 0.2 * _smooth_noise(rng, h, w, 12) + rng.normal(0, 0.03, (h, w)))[..., None]
    ground = np.where(on_road[..., None], road, walk) * (0.85 + 0.25 * s)[..., None] * texture
    curb = (np.abs(s - FAR_CURB) < 0.025) | (np.abs(s - NEAR_CURB) < 0.03)
    ground = np.where(curb[..., None], 190 * texture, ground)
    # sidewalk joints converge to the horizon: spacing and width shrink with depth
    spacing = rng.uniform(0.08, 0.15) * w * np.maximum(s, 0.05)
    joints = ~on_road & ~curb & (s > 0.05) & (((x - w / 2) % spacing) < 1.5 * s + 0.5)
    ground[joints] *= 0.75
    lane_row = horizon + LANE_MARK * (h - horizon)
    period = rng.uniform(0.08, 0.14) * w
    dashes = (np.abs(y - lane_row) < max(0.6, 0.012 * (h - horizon))) & ((x + rng.uniform(0, period)) % period
                                                                         < 0.55 * period)
    ground[dashes] = (225, 225, 210) if rng.random() < 0.5 else (225, 190, 60)
    below = y[:, 0] >= horizon
    img[below] = ground[below]
    return img


def _clutter(rng, scene, s, height, width):
    """A blob of blocky texture standing at depth s, centred somewhere along the street."""
    bh, bw = height * scene.height, width * scene.width
    x0, top = rng.uniform(0.1, 0.9) * scene.width - bw / 2, scene.row(s) - bh
    r0, c0, px, py = _grid(x0, top, bw, bh, scene.height, scene.width)
    lx, ly = px - x0, py - top
    mask = _ellipse(lx, ly, 0.5 * bw, 0.75 * bh, 0.45 * bw, 0.25 * bh)
    for _ in range(rng.integers(3, 6)):
        mask = mask | _ellipse(lx, ly, rng.uniform(0.2, 0.8) * bw, rng.uniform(0.3, 0.7) * bh,
                               rng.uniform(0.15, 0.35) * bw, rng.uniform(0.2, 0.4) * bh)
    hh, ww = mask.shape
    cell = max(2, int(bh / 8))
    blocks = rng.integers(0, 3, (hh // cell + 1, ww // cell + 1))
    idx = np.repeat(np.repeat(blocks, cell, 0), cell, 1)[:hh, :ww]
    rgb = CLUTTER[rng.integers(len(CLUTTER))][idx] * (0.75 + 0.5 * rng.random((hh, ww, 1), np.float32))
    return _Clutter(s, r0, c0, mask, rgb.astype(np.float32))


def _car(rng, k, frames, scene, lane_dir):
    kind = rng.integers(3)  # sedan, hatchback, van
    cabin = np.array([(0.14, 0.30, 0.64, 0.80), (0.08, 0.12, 0.62, 0.78), (0.03, 0.04, 0.74, 0.86)][kind])
    look = dict(cabin=cabin + rng.uniform(-0.03, 0.03, 4), roof=(0.05, 0.03, 0.0)[kind],
                paint=CAR_PAINT[rng.integers(len(CAR_PAINT))] + rng.uniform(-15, 15, 3),
                paint2=CAR_PAINT[rng.integers(len(CAR_PAINT))], pattern=rng.integers(3),
                hub=rng.uniform(120, 200) * np.ones(3))
    aspect = (rng.uniform(2.2, 2.6), rng.uniform(2.0, 2.3), rng.uniform(1.8, 2.1))[kind]
    size = CAR_HEIGHT * scene.height * rng.uniform(0.9, 1.05) * (1.15 if kind == 2 else 1.0)
    if k > 0 and rng.random() < 0.2:  # parked
        s, vx, facing = PARKING + rng.uniform(-0.02, 0.02), 0.0, int(rng.choice([-1, 1]))
    else:
        lane = rng.integers(len(CAR_LANES))
        s = CAR_LANES[lane] + rng.uniform(-0.02, 0.02)
        facing = lane_dir if lane == 0 else -lane_dir
        vx = facing * s * scene.width * rng.uniform(0.03, 0.08)
    return _Car(1000 + k + 1, _x_mid(rng, scene), s, _t_mid(rng, k, frames), vx, 0.0, size, aspect, facing, look)


def _pedestrian(rng, k, frames, scene):
    look = dict(skin=SKIN[rng.integers(len(SKIN))], hair=HAIR[rng.integers(len(HAIR))],
                shirt=rng.uniform(20, 235, 3), shirt2=rng.uniform(20, 235, 3), pattern=rng.integers(3),
                pants=PANTS[rng.integers(len(PANTS))] + rng.uniform(-10, 10, 3), torso=rng.uniform(0.075, 0.1),
                torso_end=0.70 if rng.random() < 0.25 else 0.54, long_hair=rng.random() < 0.3,
                bag=rng.uniform(20, 200, 3) if rng.random() < 0.3 else None, phase=rng.uniform(0, 2 * np.pi),
                swing=rng.uniform(0.3, 0.45), omega=rng.uniform(0.5, 0.8))
    size = PED_HEIGHT * scene.height * rng.uniform(0.85, 1.1)
    where = rng.random()
    vs = 0.0
    if where < 0.15:  # crossing the road
        s = rng.uniform(0.35, 0.75)
        vs = rng.choice([-1, 1]) * rng.uniform(0.015, 0.03)
        vx = rng.uniform(-0.004, 0.004) * s * scene.width
    else:  # along the far or the near sidewalk
        s = rng.uniform(0.14, 0.28) if where < 0.55 else rng.uniform(0.86, 0.98)
        vx = rng.choice([-1, 1]) * s * scene.width * rng.uniform(0.008, 0.02)
        if rng.random() < 0.15:  # standing
            vx, look["swing"] = 0.0, 0.0
    facing = int(np.sign(vx)) or int(rng.choice([-1, 1]))
    return _Pedestrian(2000 + k + 1, _x_mid(rng, scene), s, _t_mid(rng, k, frames), vx, vs, size, PED_ASPECT,
                       facing, look)


def _x_mid(rng, scene):
    return rng.uniform(0.15, 0.85) * scene.width


def _t_mid(rng, k, frames):
    """Frame at which the object is at its x_mid: mid-sequence for the first of a class, else anywhere."""
    return rng.uniform(0.25, 0.75) * frames if k == 0 else rng.uniform(-0.3, 1.3) * frames


def _scene(rng: np.random.Generator, frames: int, size: tuple[int, int]) -> _Scene:
    """Background, clutter and moving objects of one sequence."""
    h, w = size
    horizon = h * rng.uniform(0.30, 0.40)
    scene = _Scene(h, w, horizon, _background(rng, h, w, horizon), [])
    scene.objects.append(_clutter(rng, scene, rng.uniform(0.74, 0.80), rng.uniform(0.22, 0.34),
                                  rng.uniform(0.08, 0.18)))
    if rng.random() < 0.6:
        scene.objects.append(_clutter(rng, scene, rng.uniform(0.26, 0.31), rng.uniform(0.08, 0.15),
                                      rng.uniform(0.05, 0.1)))
    lane_dir = int(rng.choice([-1, 1]))
    scene.objects += [_car(rng, k, frames, scene, lane_dir) for k in range(rng.integers(3, 6) + frames // 15)]
    scene.objects += [_pedestrian(rng, k, frames, scene) for k in range(rng.integers(3, 6) + frames // 15)]
    return scene


def _render(scene: _Scene, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frame t: (H, W, 3) uint8 image with sensor noise and (H, W) uint16 label map, far objects drawn first."""
    img = scene.background.copy()
    labels = np.zeros((scene.height, scene.width), np.uint16)
    for obj in sorted(scene.objects, key=lambda o: (o.depth(t), o.id)):
        drawn = obj.draw(scene, t)
        if drawn is None:
            continue
        r0, c0, mask, rgb = drawn
        hh, ww = mask.shape
        img[r0:r0 + hh, c0:c0 + ww][mask] = rgb[mask]
        labels[r0:r0 + hh, c0:c0 + ww][mask] = obj.id
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.rint(np.clip(img, 0, 255)).astype(np.uint8), labels


# ---------------------------------------------------------------------------------------------- API

def _check(sequences, frames, size, seed) -> tuple[int, int]:
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(sequences) or sequences < 1:
        raise MotsError(f"synth: sequences must be an integer >= 1, got {sequences!r}")
    if not is_int(frames) or frames < 1:
        raise MotsError(f"synth: frames must be an integer >= 1, got {frames!r}")
    if (not isinstance(size, (tuple, list)) or len(size) != 2 or not all(is_int(v) for v in size)
            or min(size) < MIN_SIZE):
        raise MotsError(f"synth: size must be (height, width), both integers >= {MIN_SIZE}, got {size!r}")
    if not is_int(seed) or seed < 0:
        raise MotsError(f"synth: seed must be an integer >= 0, got {seed!r}")
    need, available = int(size[0]) * int(size[1]) * BYTES_PER_PIXEL, _available_memory()
    if need > available:
        raise MotsError(f"synth: size {size[0]}x{size[1]} needs about {need / 2 ** 30:.1f} GiB of memory, "
                        f"{available / 2 ** 30:.1f} GiB are available")
    return int(size[0]), int(size[1])


def _available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux, else all physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def generate(out_dir: str | os.PathLike, sequences: int = 4, frames: int = 40,
             size: tuple[int, int] = (188, 620), seed: int = 0) -> None:
    """Write the synthetic data set (see the module docstring) to ``out_dir``; byte-identical for a seed.

    The last quarter of the sequences (at least one) forms val.seqmap, the rest train.seqmap; a single
    sequence forms train.seqmap alone. ``out_dir`` must be new or empty: files of an earlier data set would
    stay beside the new one.
    """
    size = _check(sequences, frames, size, seed)
    out_dir = str(out_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise MotsError(f"{out_dir}: not empty; write the data set into a new or empty folder (the frames and "
                        f"sequences of an earlier one would stay beside it)")
    names = [f"{i:04d}" for i in range(sequences)]
    os.makedirs(os.path.join(output_dir(out_dir, "data set folder"), "instances_txt"))
    with tqdm(total=sequences * frames, desc="synth", unit="frame") as bar:
        for name, child in zip(names, np.random.SeedSequence(seed).spawn(sequences)):
            rng = np.random.default_rng(child)
            scene = _scene(rng, frames, size)
            image_dir = os.path.join(out_dir, "images", name)
            os.makedirs(image_dir, exist_ok=True)
            frame_ids, ids, rles = [], [], []
            for t in range(frames):
                image, labels = _render(scene, t, rng)
                Image.fromarray(image).save(os.path.join(image_dir, f"{t:06d}.png"), compress_level=3)
                values, masks = rle.from_label_map(labels)
                keep = np.flatnonzero((values == formats.IGNORE_ID) | (rle.areas(masks) >= MIN_PIXELS))
                frame_ids += [t] * len(keep)
                ids += values[keep].tolist()
                rles += [masks[i] for i in keep]
                bar.update()
            ids = np.array(ids, np.int64)
            seq = formats.Sequence(name, np.array(frame_ids, np.int64), ids,
                                   np.where(ids == formats.IGNORE_ID, formats.IGNORE, ids // 1000), rles)
            formats.write_txt(seq, os.path.join(out_dir, "instances_txt", f"{name}.txt"))
    n_val = max(1, round(sequences / 4)) if sequences > 1 else 0
    splits = {"train": names[:sequences - n_val], "val": names[sequences - n_val:]}
    for split, members in splits.items():
        if members:
            formats.write_seqmap({n: (0, frames - 1) for n in members}, os.path.join(out_dir, f"{split}.seqmap"))

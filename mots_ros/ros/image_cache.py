"""The camera images tracker_node keeps for its overlay until their detections come (ROS-free)."""
from __future__ import annotations

from collections import OrderedDict


class ImageCache:
    """Images by stamp (ns) in arrival order, at most ``size`` (given with each image: a parameter that can
    change at run time). Taking a frame's image also forgets the images that arrived before it: their
    detections are late or lost and will not be drawn. Arrival order, not stamps, decides, so a camera restarted
    with earlier stamps keeps its first images while the last detections of the previous run still come in."""

    def __init__(self):
        self.images: OrderedDict[int, object] = OrderedDict()

    def put(self, stamp: int, image, size: int) -> None:
        self.images.pop(stamp, None)  # a stamp seen again is a new arrival
        self.images[stamp] = image
        while len(self.images) > max(1, size):
            self.images.popitem(last=False)

    def take(self, stamp: int):
        """The image stamped ``stamp`` (None if it never came or was forgotten)."""
        if stamp not in self.images:
            return None
        while True:
            first, image = self.images.popitem(last=False)
            if first == stamp:
                return image

    def clear(self) -> None:
        self.images.clear()

    def __len__(self) -> int:
        return len(self.images)

"""tracker_node's overlay image cache: which camera images wait for their detections."""
from mots_ros.ros.image_cache import ImageCache


def test_taking_a_frame_forgets_the_images_that_came_before_it():
    cache = ImageCache()
    for stamp in (10, 11, 12):
        cache.put(stamp, f"image {stamp}", size=5)
    assert cache.take(11) == "image 11"
    assert cache.take(10) is None  # its detections came too late: not drawn any more
    assert cache.take(12) == "image 12" and len(cache) == 0


def test_a_restarted_camera_keeps_its_images_while_the_last_detections_of_its_previous_run_come_in():
    """The camera restarts with earlier stamps (a bag played again) while the detections of the previous run's
    last frames (held back by the lookahead) are still on their way: those find no image and must not take the
    new run's images with them (ordering by stamp did: the new run's first overlays were lost)."""
    cache = ImageCache()
    for stamp in (1000, 1001, 1002):  # the new run
        cache.put(stamp, stamp, size=5)
    assert cache.take(1003) is None and cache.take(1004) is None  # the previous run's last detections
    assert [cache.take(s) for s in (1000, 1001, 1002)] == [1000, 1001, 1002]


def test_the_cache_holds_at_most_size_images_and_a_repeated_stamp_is_a_new_arrival():
    cache = ImageCache()
    for stamp in range(6):
        cache.put(stamp, stamp, size=3)
    assert len(cache) == 3 and cache.take(2) is None and cache.take(3) == 3
    cache.put(4, "again", size=3)
    cache.put(9, 9, size=3)
    assert cache.take(5) == 5 and cache.take(4) == "again"  # 4 arrived again after 5
    cache.put(1, 1, size=0)  # at least one image is kept
    assert len(cache) == 1 and cache.take(1) == 1

"""The statistics behind the nodes' /diagnostics: counts, rates over the window, latency percentiles, and WARN
exactly while frames are being dropped, skipped or lost or latency is over the limit."""
import pytest

from mots_ros.ros.diagnostics import WINDOW_S, FrameStats


def test_rates_counts_and_latency():
    stats = FrameStats()
    for i in range(10):
        stats.took(now=100.0 + i * 0.1)
        stats.timed(0.010 + 0.001 * i)
        if i % 2 == 0:
            stats.published(now=100.0 + i * 0.1)
    warn, message, values = stats.report(now=101.0)
    assert not warn and message == "ok"
    assert values["input_rate_hz"] == pytest.approx(10 / WINDOW_S) and values["output_rate_hz"] == 5 / WINDOW_S
    assert values["taken"] == 10 and (values["dropped"], values["skipped"], values["lost"]) == (0, 0, 0)
    assert values["latency_ms_p50"] == pytest.approx(14.5) and values["latency_ms_p95"] == pytest.approx(18.55)
    assert stats.report(now=100.0 + WINDOW_S + 0.85)[2]["input_rate_hz"] == pytest.approx(1 / WINDOW_S)


def test_warn_while_frames_are_lost_or_slow():
    stats = FrameStats()
    stats.count("dropped")
    stats.count("skipped", 3)
    warn, message, values = stats.report(now=1.0)
    assert warn and message == "1 frames dropped; 3 frames skipped" and values["skipped"] == 3
    assert stats.report(now=2.0)[:2] == (False, "ok")  # nothing new since the last report
    stats.timed(0.2)
    warn, message, _ = stats.report(latency_warn_ms=100.0, now=3.0)
    assert warn and message == "latency p95 200 ms > 100 ms"
    assert not stats.report(latency_warn_ms=0.0, now=4.0)[0]  # 0: no latency limit

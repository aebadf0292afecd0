"""Small pure parts of capture: backoff, frame gate, URL credentials and redaction."""

from __future__ import annotations

from face01d.capture import Backoff, FrameGate, redact_url
from face01d.capture.opencv_source import rtsp_url
from face01d.config.models import CameraConfig


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    backoff = Backoff(start=0.5, cap=4.0)
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings))
    backoff.reset()
    assert all(Backoff(0.5, 60).next_delay() <= 0.5 for _ in range(50))


def test_jitter_spreads_delays() -> None:
    backoff = Backoff(start=10, cap=10)
    assert len({round(backoff.next_delay(), 3) for _ in range(20)}) > 10


def test_frame_gate_combines_frame_skip_and_fps_limit() -> None:
    gate = FrameGate(frame_skip=1, fps_limit=2)  # every 2nd frame, at most 2 per second
    times = [i / 10 for i in range(20)]  # a 10 fps source for 2 s
    admitted = [t for t in times if gate.admit(t)]
    assert admitted == [0.0, 0.6, 1.0, 1.6]  # on the 0.5 s grid, never two within 0.5 s


def test_rtsp_credentials_are_put_in_the_url_and_redacted_in_logs() -> None:
    config = CameraConfig(name="c", source="rtsp://10.0.0.5:554/stream1", username="admin", password="p@ss:word")
    url = rtsp_url(config)
    assert url == "rtsp://admin:p%40ss%3Aword@10.0.0.5:554/stream1"
    assert redact_url(url) == "rtsp://admin:***@10.0.0.5:554/stream1"
    own = CameraConfig(name="c", source="rtsp://u:pw@cam/s", username="admin", password="x")
    assert rtsp_url(own) == "rtsp://u:pw@cam/s"


def test_ffmpeg_decodes_on_the_threads_decode_threads_says(data) -> None:  # noqa: ANN001
    import cv2

    from face01d.capture.opencv_source import _open

    one = _open(CameraConfig(name="c", source=str(data.kim_video)))  # the default: one thread a camera
    own = _open(CameraConfig(name="c", source=str(data.kim_video), decode_threads=0))  # FFmpeg's choice
    try:
        assert one.get(cv2.CAP_PROP_N_THREADS) == 1 and one.read()[0]
        assert own.get(cv2.CAP_PROP_N_THREADS) >= 1 and own.read()[0]
    finally:
        one.release()
        own.release()

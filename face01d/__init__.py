"""face01d: a face-recognition daemon that turns camera frames into MQTT events.

The package is laid out as the data flows: ``capture`` → ``vision`` →
``gallery`` (who is it) → ``events`` (presence, cooldown) → ``sinks``, wired
together by ``app`` and ``pipeline``; ``config`` is the one validated source
of settings. Tracking across frames will sit between gallery and events.
"""

import os as _os

__version__ = "0.1.0"

# OpenCV reads its per-decode pixel cap once, when cv2 is imported, so it is set before any module
# imports cv2. face01d's own decodes never reach it (face01d/decoding reduces or refuses them first,
# at DECODE_BUDGET_BYTES of 3-byte pixels); a cv2.imdecode anywhere else is held to the same bound.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(64 * 1024 * 1024 // 3))

"""Text on the preview: a font that has the gallery's scripts, or OpenCV's built-in one.

FACE01's galleries are named in Japanese (``金正恩_default.png``), and
OpenCV's Hershey fonts know only ASCII, so names go through PIL with a CJK
font when one is found: the configured ``[preview] font``, then fontconfig's
answer for Japanese, then the usual install paths of Noto Sans CJK. Without
one the preview still works: names are drawn by OpenCV (non-ASCII letters
as ``?``) and one warning says so, once per painter.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import structlog
from PIL import Image, ImageDraw, ImageFont

from face01d.errors import ConfigError

log = structlog.get_logger(__name__)

FC_LIST_TIMEOUT_S = 5.0  # fontconfig answers in milliseconds; a hung one must not stall start-up
KNOWN_CJK_FONTS = (  # Debian/Ubuntu, Fedora, Arch, Alpine, macOS
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/System/Library/Fonts/ヒラギノ角ゴシック W3.ttc",
)
HERSHEY = cv2.FONT_HERSHEY_SIMPLEX
HERSHEY_PX = 30.0  # FONT_HERSHEY_SIMPLEX at scale 1 looks like a TrueType font of this size
TEXT_COLOUR = (255, 255, 255)  # BGR: white on the label's coloured background
PAD_PX = 3


@dataclass(frozen=True, slots=True)
class Label:
    """One text to draw: its top-left corner and the background colour (BGR) behind it."""

    text: str
    x: int
    y: int
    colour: tuple[int, int, int]


def find_cjk_font(configured: Path | None = None) -> Path | None:
    """The font to draw names with: ``configured`` (which must exist), else a Japanese-capable one, else None."""
    if configured is not None:
        if not configured.is_file():
            raise ConfigError(f"[preview] font: no such file: {configured}")
        return configured
    return _fontconfig_japanese() or next((Path(p) for p in KNOWN_CJK_FONTS if Path(p).is_file()), None)


def _fontconfig_japanese() -> Path | None:
    """fontconfig's first font that covers Japanese, when ``fc-list`` is installed."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        found = subprocess.run([fc_list, ":lang=ja", "file"], capture_output=True, text=True,
                               timeout=FC_LIST_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    files = sorted(line.split(":")[0].strip() for line in found.stdout.splitlines() if line.strip())
    return next((Path(f) for f in files if Path(f).is_file()), None)


class TextPainter:
    """Draws labels on a BGR image in place, with PIL and ``font`` or, without one, with OpenCV.

    PIL's FreeType objects are kept per thread: renders of two cameras run
    in two worker threads at once.
    """

    def __init__(self, font: Path | None) -> None:
        self.font = font
        self._local = threading.local()
        self._warned = False

    def text_size(self, text: str, size: int) -> tuple[int, int]:
        """Width and height in pixels of ``text`` with its padding, at font size ``size``."""
        if self.font is None:
            (w, h), baseline = cv2.getTextSize(_ascii(text), HERSHEY, size / HERSHEY_PX, _thickness(size))
            return w + 2 * PAD_PX, h + baseline + 2 * PAD_PX
        left, top, right, bottom = self._pil_font(size).getbbox(text)
        return right - left + 2 * PAD_PX, bottom - top + 2 * PAD_PX

    def draw(self, image: np.ndarray, labels: Sequence[Label], size: int) -> None:
        """Draw ``labels`` (each on its coloured background) onto ``image``."""
        if not labels:
            return
        if self.font is None:
            self._warn_once()
            for label in labels:
                self._draw_cv2(image, label, size)
            return
        self._draw_pil(image, labels, size)

    def _draw_pil(self, image: np.ndarray, labels: Sequence[Label], size: int) -> None:
        """Each label drawn on its own small picture and pasted: no conversion of the whole frame."""
        font = self._pil_font(size)
        for label in labels:
            left, top, right, bottom = font.getbbox(label.text)
            patch = Image.new("RGB", (right - left + 2 * PAD_PX, bottom - top + 2 * PAD_PX), _rgb(label.colour))
            ImageDraw.Draw(patch).text((PAD_PX - left, PAD_PX - top), label.text, font=font, fill=_rgb(TEXT_COLOUR))
            _paste(image, np.asarray(patch)[:, :, ::-1], label.x, label.y)

    def _draw_cv2(self, image: np.ndarray, label: Label, size: int) -> None:
        text = _ascii(label.text)
        w, h = self.text_size(text, size)
        cv2.rectangle(image, (label.x, label.y), (label.x + w, label.y + h), label.colour, cv2.FILLED)
        (_, text_h), _ = cv2.getTextSize(text, HERSHEY, size / HERSHEY_PX, _thickness(size))
        origin = (label.x + PAD_PX, label.y + PAD_PX + text_h)
        cv2.putText(image, text, origin, HERSHEY, size / HERSHEY_PX, TEXT_COLOUR, _thickness(size), cv2.LINE_AA)

    def _pil_font(self, size: int) -> ImageFont.FreeTypeFont:
        fonts: dict[int, ImageFont.FreeTypeFont] = self._local.__dict__.setdefault("fonts", {})
        if size not in fonts:
            fonts[size] = ImageFont.truetype(str(self.font), size)
        return fonts[size]

    def _warn_once(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning("preview: no font with Japanese glyphs found; names drawn by OpenCV, non-ASCII as '?'",
                        hint="install fonts-noto-cjk or set [preview] font")


def _paste(image: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """``patch`` onto ``image`` with its top-left at (x, y), cut where it leaves the picture."""
    height, width = image.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + patch.shape[1], width), min(y + patch.shape[0], height)
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]


def _ascii(text: str) -> str:
    return "".join(c if c.isascii() else "?" for c in text)


def _thickness(size: int) -> int:
    return max(1, round(size / 14))


def _rgb(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    return bgr[2], bgr[1], bgr[0]

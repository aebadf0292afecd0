"""``face01d report``: who was seen on which camera when, as a timeline picture.

Reads what face01d already writes (``run --stdout`` JSON lines, or
``mosquitto_sub -v`` lines ``<topic> <json>``) so a day's events can be looked
at without a database. An access camera's decisions are marks on the person's
row (the unknown row for a stranger): granted or denied. The pure part,
lines → ``Timeline``, is separate from the drawing so that tests check it
exactly; matplotlib is imported only when drawing, so ``face01d --help``
stays fast.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from face01d.errors import InputError
from face01d.faces import UNKNOWN

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

log = structlog.get_logger(__name__)

EVENT_TYPES = frozenset({"recognized", "unknown", "left", "access"})
UNKNOWN_ROW = UNKNOWN  # the per-camera row of unknown faces: the one name no stay can have
FIG_WIDTH_IN = 12.0
ROW_HEIGHT_IN = 0.45
MIN_FIG_HEIGHT_IN = 2.5
AXES_MARGIN_IN = 1.5  # title, time axis and its label
DPI = 100
MIN_BAR_SHARE = 0.004  # a bar is at least this share of the time span wide, so a short visit still shows
FC_LIST_TIMEOUT_S = 5.0
MAX_LOGGED_CHARS = 20
# captured_at outside these (epoch seconds: 1970 … 3000) is not a face01d event: a clock that far off
# would only squash every other bar, and local time is undefined near year 1.
EPOCH_RANGE_S = (0.0, 32_503_680_000.0)
# Families to try when no fontconfig answers: matplotlib's own font list, matched by name.
CJK_HINTS = ("CJK", "IPA", "Takao", "VL Gothic", "Source Han", "Noto Sans JP", "Hiragino", "Yu Gothic",
             "MS Gothic", "Meiryo", "WenQuanYi", "Droid Sans Fallback", "Unifont")


@dataclass(frozen=True)
class Bar:
    """A person's stay on a camera: ``recognized`` → the following ``left``, or the end of the file."""

    camera: str
    name: str
    start: float  # epoch seconds
    end: float
    open: bool = False  # no ``left`` before the file ends


@dataclass(frozen=True)
class Sighting:
    """One ``unknown`` event: a marker on the camera's unknown row."""

    camera: str
    at: float


@dataclass(frozen=True)
class Decision:
    """One ``access`` event: a mark on the person's row (the unknown row when nobody was named)."""

    camera: str
    name: str
    at: float
    granted: bool


@dataclass(frozen=True)
class Timeline:
    bars: tuple[Bar, ...] = ()
    unknown: tuple[Sighting, ...] = ()
    access: tuple[Decision, ...] = ()
    skipped: int = 0  # lines that were neither an event nor a ``<topic> <event>`` line
    span: tuple[float, float] | None = None  # first and last timestamp, None without events

    def rows(self) -> list[tuple[str, str]]:
        """(camera, person) rows, camera by camera, each camera's unknown row last."""
        people = {(bar.camera, bar.name) for bar in self.bars}
        people |= {(d.camera, d.name) for d in self.access if d.name != UNKNOWN_ROW}
        unknown = {(s.camera, UNKNOWN_ROW) for s in self.unknown}
        unknown |= {(d.camera, UNKNOWN_ROW) for d in self.access if d.name == UNKNOWN_ROW}
        cameras = sorted({camera for camera, _ in people | unknown})
        return [row for camera in cameras for group in (people, unknown)
                for row in sorted(r for r in group if r[0] == camera)]


@dataclass
class _Reading:
    """What is open while the events are walked in time order."""

    bars: list[Bar] = field(default_factory=list)
    unknown: list[Sighting] = field(default_factory=list)
    access: list[Decision] = field(default_factory=list)
    open: dict[tuple[str, str], float] = field(default_factory=dict)  # (camera, name) → recognized at


def parse_line(line: str) -> dict[str, Any] | None:
    """The event in one line (bare JSON, or ``mosquitto_sub -v``'s ``<topic> <json>``), or None."""
    text = line.strip()
    candidates = [text]
    if not text.startswith("{") and " {" in text:
        candidates.append(text[text.index(" {") + 1:])
    for candidate in candidates:
        try:
            record = json.loads(candidate)
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            continue
        if _is_event(record):
            return record
    return None


def _is_event(record: Any) -> bool:
    return (isinstance(record, dict) and record.get("type") in EVENT_TYPES
            and isinstance(record.get("camera"), str) and bool(record["camera"])
            and isinstance(record.get("name"), str) and _timestamp(record.get("captured_at")) is not None)


def _timestamp(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 ``captured_at`` (UTC assumed without an offset), None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        epoch = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    except (ValueError, OverflowError):  # not ISO 8601, or outside what the platform's clock holds
        return None
    return epoch if EPOCH_RANGE_S[0] <= epoch < EPOCH_RANGE_S[1] else None


def read_events(lines: Iterable[str]) -> tuple[list[dict[str, Any]], int]:
    """Events in time order, each id once (delivery is at least once), and the count of other lines."""
    events: dict[str, dict[str, Any]] = {}
    skipped = 0
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        record = parse_line(line)
        if record is None:
            skipped += 1
            continue
        events.setdefault(str(record.get("id") or f"line-{number}"), record)
    ordered = sorted(events.values(), key=lambda record: _timestamp(record["captured_at"]) or 0.0)
    return ordered, skipped


def build_timeline(lines: Iterable[str]) -> Timeline:
    """Lines → bars and unknown markers; the pure part that tests check exactly."""
    events, skipped = read_events(lines)
    if not events:
        return Timeline(skipped=skipped)
    reading = _Reading()
    for record in events:
        _walk(reading, record)
    last = _timestamp(events[-1]["captured_at"]) or 0.0
    still_open = [Bar(camera, name, start, last, open=True) for (camera, name), start in reading.open.items()]
    return Timeline(bars=tuple(sorted([*reading.bars, *still_open], key=lambda bar: (bar.camera, bar.name, bar.start))),
                    unknown=tuple(reading.unknown), access=tuple(reading.access), skipped=skipped,
                    span=(_timestamp(events[0]["captured_at"]) or 0.0, last))


def _walk(reading: _Reading, record: dict[str, Any]) -> None:
    """One event: open a bar, close it, or mark an unknown face or an access decision."""
    at = _timestamp(record["captured_at"]) or 0.0
    key = (record["camera"], record["name"])
    if record["type"] == "unknown":
        reading.unknown.append(Sighting(record["camera"], at))
    elif record["type"] == "access":
        reading.access.append(Decision(*key, at, granted=record.get("granted") is True))
    elif record["type"] == "recognized":
        reading.open.setdefault(key, at)  # a repeat while present keeps the first arrival
    elif key in reading.open:  # left; a left with nothing open (the file starts mid-stay) draws nothing
        reading.bars.append(Bar(*key, reading.open.pop(key), at))


def load_timeline(path: Path) -> Timeline:
    """The timeline of an events file; a missing, unreadable or eventless file is an input error."""
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            timeline = build_timeline(lines)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    if timeline.span is None:
        raise InputError(f"{path}: no face01d events in it ({timeline.skipped} other lines)")
    return timeline


def draw(timeline: Timeline, out: Path, title: str) -> None:
    """Render to a PNG with matplotlib's Agg canvas (no pyplot: no global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = timeline.rows()
    labels = [f"{camera} · {name}" for camera, name in rows]
    font = cjk_font_for([title, *labels])
    figure = Figure(figsize=(FIG_WIDTH_IN, max(MIN_FIG_HEIGHT_IN, ROW_HEIGHT_IN * len(rows) + AXES_MARGIN_IN)), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _plot_rows(axes, timeline, rows)
    axes.set_yticks(range(len(rows)), labels=labels, fontproperties=font)
    axes.set_title(title, fontproperties=font)
    _time_axis(axes, timeline)
    with warnings.catch_warnings():  # one warning above says which glyphs are missing, not one per draw
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.tight_layout()
        _save(figure, out)


def _save(figure: Figure, out: Path) -> None:
    try:
        figure.savefig(out, format="png")
    except OSError as error:
        raise InputError(f"{out}: cannot write: {error.strerror or error}") from None


def _plot_rows(axes: Axes, timeline: Timeline, rows: list[tuple[str, str]]) -> None:
    from matplotlib import colormaps

    assert timeline.span is not None
    index = {row: number for number, row in enumerate(rows)}
    people = sorted({bar.name for bar in timeline.bars})
    palette = colormaps["tab10"]
    min_width = max(timeline.span[1] - timeline.span[0], 60.0) * MIN_BAR_SHARE
    for bar in timeline.bars:
        start, end = _local(bar.start), _local(max(bar.end, bar.start + min_width))
        axes.broken_barh([(start, end - start)], (index[(bar.camera, bar.name)] - 0.35, 0.7),
                         facecolors=palette(people.index(bar.name) % palette.N), alpha=0.5 if bar.open else 0.9,
                         hatch="//" if bar.open else None, edgecolor="black", linewidth=0.5)
    for sighting in timeline.unknown:
        axes.plot([_local(sighting.at)], [index[(sighting.camera, UNKNOWN_ROW)]], marker="x", color="dimgray",
                  linestyle="none")
    for decision in timeline.access:
        axes.plot([_local(decision.at)], [index[(decision.camera, decision.name)]], linestyle="none",
                  marker="^" if decision.granted else "v", color="green" if decision.granted else "red",
                  markersize=9, markeredgecolor="black", markeredgewidth=0.5)
    axes.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    axes.grid(axis="x", alpha=0.3)


def _local(epoch: float) -> float:
    """Matplotlib's date number of an instant, on the machine's local clock (what a person reads)."""
    from matplotlib.dates import date2num

    return float(date2num(datetime.fromtimestamp(epoch)))


def _time_axis(axes: Axes, timeline: Timeline) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    assert timeline.span is not None
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    moment = datetime.fromtimestamp(timeline.span[0]).astimezone()
    zone = moment.strftime("UTC%z") + ("" if (moment.tzname() or "UTC").startswith(("UTC", "+", "-"))
                                       else f" {moment.tzname()}")
    doors = "; ▲ access granted, ▼ denied" if timeline.access else ""
    axes.set_xlabel(f"local time ({zone}); hatched: still present when the file ends; x: unknown face{doors}")


def cjk_font_for(texts: Iterable[str]) -> FontProperties | None:
    """A font with a glyph for every character of ``texts``; None (matplotlib's default) when it has them.

    DejaVu Sans (the default) has Latin, Greek and Cyrillic but no kana or
    kanji: Japanese names would be boxes. fontconfig knows the installed CJK
    fonts; matplotlib's own list is the second place to look.
    """
    from matplotlib.font_manager import FontProperties, findfont

    needed = {ch for text in texts for ch in text if not ch.isspace()}
    missing = _missing(findfont(FontProperties()), needed)
    if not missing:
        return None
    for path in _candidate_fonts():
        if not _missing(path, needed):  # one font for every label: CJK fonts have Latin too
            log.debug("report font", path=path)
            return FontProperties(fname=path)
    log.warning("no installed font has every character of the names: some will show as boxes",
                characters="".join(sorted(missing))[:MAX_LOGGED_CHARS],
                hint="install a CJK font, e.g. apt-get install fonts-ipafont-gothic")
    return None


def _candidate_fonts() -> Iterator[str]:
    """Font files likely to have CJK glyphs: fontconfig's Japanese/Chinese/Korean fonts, then matplotlib's list."""
    yield from _fc_list()
    from matplotlib.font_manager import fontManager

    for entry in fontManager.ttflist:
        if any(hint.lower() in entry.name.lower() for hint in CJK_HINTS):
            yield str(entry.fname)


def _fc_list() -> list[str]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    paths: list[str] = []
    for lang in ("ja", "zh", "ko"):
        try:
            done = subprocess.run([fc_list, f":lang={lang}", "file"], capture_output=True, text=True,
                                  timeout=FC_LIST_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            return paths
        paths += sorted(line.split(":")[0].strip() for line in done.stdout.splitlines() if line.strip())
    return paths


def _missing(path: str, characters: set[str]) -> set[str]:
    """The characters the font file has no glyph for (index 0 is "missing glyph"); all if it cannot be read."""
    from matplotlib.ft2font import FT2Font

    try:
        face = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return set(characters)
    return {ch for ch in characters if face.get_char_index(ord(ch)) == 0}


def write_report(events: Path, out: Path) -> Timeline:
    """``face01d report``: read, draw, and hand back the timeline for the summary line."""
    timeline = load_timeline(events)
    draw(timeline, out, f"face01d: who was seen where ({events.name})")
    return timeline

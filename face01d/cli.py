"""The ``face01d`` command line. Only argument handling lives here.

Every ``Face01dError`` becomes one line on stderr and its documented exit
code (``face01d.errors.ExitCode``); an unexpected exception is logged with its
traceback and exits 1.

Start-up time: ``face01d --help`` must answer in well under 0.3 s, so this
module imports only click and face01d's light modules at the top; the config
models (pydantic, numpy) and logging (structlog) are imported inside the
commands that use them (``python -X importtime -m face01d --help`` shows why).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from face01d import __version__
from face01d.errors import ExitCode, Face01dError

if TYPE_CHECKING:
    from face01d.config.models import GalleryConfig

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = Path("config.toml")
# face01d.config.models.DetectorKind's values, written out so that --help need not import
# pydantic and numpy at start-up. Keep the two in step (a kind missing here is just not offered).
DETECTOR_KINDS = ("hog", "cnn", "mediapipe")


def _fail(message: str, code: ExitCode) -> None:
    click.echo(f"face01d: error: {message}", err=True)
    sys.exit(int(code))


def reports_errors(command: F) -> F:
    """Turn face01d's errors into a clear line and an exit code, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Face01dError as error:
            _fail(str(error), error.exit_code)
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _print_json(record: dict[str, Any]) -> None:
    click.echo(json.dumps(record, ensure_ascii=False))


def _warn(line: str) -> None:
    click.echo(f"face01d: {line}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="face01d")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.pass_context
def cli(ctx: click.Context, log_level: str | None) -> None:
    """face01d: face recognition from cameras to MQTT (the FACE01 daemon)."""
    ctx.obj = {"log_level": log_level}


def _config_option(default: Path | None = DEFAULT_CONFIG) -> Callable[[F], F]:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path),  # a directory is the loader's error (exit 3), not a usage error
        default=default,
        show_default=True,
        help="config.toml to read (FACE01D_<SECTION>__<KEY> variables override it).",
    )


@cli.command()
@_config_option()
@click.option("--once", is_flag=True, help="Exit once every camera has ended (video files): 0, or 4 if a camera "
              "failed or left tracks undecided (their looks could not be encoded).")
@click.option("--stdout", "stdout_events", is_flag=True, help="Also print each event as a JSON line on stdout.")
@click.pass_context
@reports_errors
def run(ctx: click.Context, config_path: Path, once: bool, stdout_events: bool) -> None:
    """Run the daemon: watch the cameras, publish recognition events."""
    from face01d import native_stderr
    from face01d.app import run_daemon
    from face01d.config.loader import load_config, require_enabled_camera
    from face01d.fds import raise_soft_limit
    from face01d.log import configure_logging

    config = load_config(config_path)
    require_enabled_camera(config, config_path)
    level = ctx.obj["log_level"] or config.daemon.log_level
    configure_logging(level, config.daemon.log_format, all_to_stderr=stdout_events)
    native_stderr.install()  # FFmpeg's decode errors counted, native lines structured; before any worker starts
    raise_soft_limit()  # sockets, cameras, snapshots and the outbox share it; before anything opens many
    try:
        code = run_daemon(config, config_path, once=once, stdout_events=stdout_events)
    finally:
        native_stderr.uninstall()
    sys.exit(code)


@cli.command()
@_config_option()
@click.option("--id", "worker_id", default=None, help="This worker's name on the broker (default: the host name).")
@click.pass_context
@reports_errors
def worker(ctx: click.Context, config_path: Path, worker_id: str | None) -> None:
    """Encode faces for nodes with [workers] encode = "remote", through the MQTT broker."""
    import asyncio

    from face01d.config.loader import load_config
    from face01d.log import configure_logging
    from face01d.remote.worker import default_worker_id, serve

    config = load_config(config_path)
    configure_logging(ctx.obj["log_level"] or config.daemon.log_level, config.daemon.log_format)
    asyncio.run(serve(config, worker_id or default_worker_id()))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--gallery", "gallery_dir", type=click.Path(path_type=Path), help="Name faces against this gallery.")
@click.option("--detector", type=click.Choice(DETECTOR_KINDS), default="hog", show_default=True)
@click.option("--upsampling", type=click.IntRange(0, 4), default=1, show_default=True)
@click.option("--set-width", type=click.IntRange(0), default=0, help="Resize frames to this width before detection.")
@click.option("--frame-skip", type=click.IntRange(0), default=0, help="Videos: analyse one frame, skip N.")
@click.option("--tolerance", type=float, default=None, help="Match distance threshold (default 0.6).")
@click.option("--similar-percentage", type=float, default=None, help="FACE01's threshold, e.g. 99.1.")
@click.pass_context
@reports_errors
def detect(ctx: click.Context, paths: tuple[Path, ...], gallery_dir: Path | None, **options: Any) -> None:
    """Print one JSON line per face found in images or video files."""
    from face01d.config.models import DetectorConfig, LogFormat
    from face01d.log import configure_logging
    from face01d.oneshot import detect_paths

    configure_logging(ctx.obj["log_level"] or "warning", LogFormat.AUTO, all_to_stderr=True)
    detector = DetectorConfig(kind=options["detector"], upsampling=options["upsampling"], set_width=options["set_width"])
    gallery = _gallery_config(gallery_dir, options["tolerance"], options["similar_percentage"])
    for record in detect_paths(paths, detector, gallery, frame_skip=options["frame_skip"]):
        _print_json(record)


def _gallery_config(path: Path | None, tolerance: float | None, percentage: float | None) -> GalleryConfig | None:
    from pydantic import ValidationError

    from face01d.config.models import GalleryConfig
    from face01d.errors import ConfigError

    if path is None:
        return None
    try:
        return GalleryConfig(path=path, tolerance=tolerance, similar_percentage=percentage)
    except ValidationError as error:
        raise ConfigError("; ".join(problem["msg"] for problem in error.errors())) from None


@cli.group()
def gallery() -> None:
    """Build, list and check a gallery folder."""


def _build_gallery(ctx: click.Context, directory: Path) -> tuple[str, list[str]]:
    """Build with a progress bar; the gallery and one line per image left out."""
    from face01d.config.models import GalleryConfig, LogFormat
    from face01d.log import configure_logging
    from face01d.oneshot import build_with_progress, report_lines

    configure_logging(ctx.obj["log_level"] or "warning", LogFormat.AUTO, all_to_stderr=True)
    built, report = build_with_progress(GalleryConfig(path=directory))
    summary = f"{len(built.people)} people, {len(built)} encodings ({len(report.encoded_now)} encoded now)"
    return summary, report_lines(report)


@gallery.command("build")
@click.argument("directory", type=click.Path(path_type=Path))
@click.pass_context
@reports_errors
def gallery_build(ctx: click.Context, directory: Path) -> None:
    """Encode every image (cached) and print what was left out."""
    summary, problems = _build_gallery(ctx, directory)
    for line in problems:
        click.echo(line, err=True)
    click.echo(summary)


@gallery.command("list")
@click.argument("directory", type=click.Path(path_type=Path))
@reports_errors
def gallery_list(directory: Path) -> None:
    """Print each person with their image count and display image (JSON lines)."""
    from face01d.oneshot import list_people

    for record in list_people(directory):
        _print_json(record)


@gallery.command("check")
@click.argument("directory", type=click.Path(path_type=Path))
@click.pass_context
@reports_errors
def gallery_check(ctx: click.Context, directory: Path) -> None:
    """Like build, but exit 5 if any image was left out or skipped."""
    _, problems = _build_gallery(ctx, directory)
    for line in problems:
        click.echo(line)
    if problems:
        sys.exit(int(ExitCode.GALLERY))
    click.echo("gallery ok")


def _edited_gallery(ctx: click.Context, gallery_dir: Path | None, config_path: Path | None) -> tuple[Any, Any]:
    """(GalleryConfig, Config) for an edit: ``--gallery`` wins over the config's ``[gallery] path``;
    without either, ./config.toml when there is one."""
    from face01d.config.loader import load_config
    from face01d.config.models import LogFormat
    from face01d.log import configure_logging

    configure_logging(ctx.obj["log_level"] or "warning", LogFormat.AUTO, all_to_stderr=True)
    if config_path is None and gallery_dir is None and not DEFAULT_CONFIG.is_file():
        _fail(f"give --gallery DIR or -c CONFIG (no {DEFAULT_CONFIG} here)", ExitCode.USAGE)
    config = load_config(config_path or (DEFAULT_CONFIG if gallery_dir is None else None))
    gallery_config = config.gallery if gallery_dir is None else config.gallery.model_copy(update={"path": gallery_dir})
    return gallery_config, config


def _gallery_edit_options(command: F) -> F:
    command = click.option("--gallery", "gallery_dir", type=click.Path(path_type=Path),
                           help="Gallery folder (default: [gallery] path of the config).")(command)
    return _config_option(default=None)(command)


@gallery.command("add")
@click.argument("name")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@_gallery_edit_options
@click.pass_context
@reports_errors
def gallery_add(ctx: click.Context, name: str, images: tuple[Path, ...], gallery_dir: Path | None,
                config_path: Path | None) -> None:
    """Add IMAGES (one face each) as NAME; prints each file written. A watching daemon reloads."""
    from face01d.enrollment.gallery_edit import add_images
    from face01d.galleryshare import remote_edit

    gallery_config, config = _edited_gallery(ctx, gallery_dir, config_path)
    shared = remote_edit.shared(config, gallery_dir)  # source = "broker": the publisher edits its folder
    for path in remote_edit.add(config, name, images) if shared else add_images(gallery_config, name, images):
        click.echo(str(path))


_unknown_dir_option = click.option("--unknown-dir", type=click.Path(path_type=Path),
                                   help="Where unknown faces are kept (default: [enrollment] unknown_dir).")


@gallery.command("promote")
@click.argument("event_id", metavar="[EVENT_ID]")
@click.argument("name", required=False)
@click.option("--group", "group_id", help="Add every crop of this group (`face01d unknown groups`) instead.")
@_gallery_edit_options
@_unknown_dir_option
@click.pass_context
@reports_errors
def gallery_promote(ctx: click.Context, event_id: str, name: str | None, group_id: str | None,
                    gallery_dir: Path | None, config_path: Path | None, unknown_dir: Path | None) -> None:
    """Add the unknown face of EVENT_ID (or a unique prefix of it) as NAME; with --group ID, NAME only."""
    from face01d.enrollment.gallery_edit import promote
    from face01d.enrollment.unknown import unknown_dir as configured_unknown_dir

    from face01d.galleryshare import remote_edit

    if (group_id is None) == (name is None):
        _fail("give EVENT_ID NAME, or --group ID NAME", ExitCode.USAGE)
    gallery_config, config = _edited_gallery(ctx, gallery_dir, config_path)
    crops = unknown_dir or configured_unknown_dir(config)
    if group_id is not None:
        from face01d.enrollment.groups import promote_group

        written = promote_group(config, gallery_config, crops, group_id, event_id,
                                shared=remote_edit.shared(config, gallery_dir), warn=_warn)
    elif remote_edit.shared(config, gallery_dir):  # source = "broker": the publisher edits its folder
        written = remote_edit.promote(config, crops, event_id, name)
    else:
        written = promote(gallery_config, crops, event_id, name)
    for path in written:
        click.echo(str(path))


@gallery.command("remove")
@click.argument("name")
@_gallery_edit_options
@click.pass_context
@reports_errors
def gallery_remove(ctx: click.Context, name: str, gallery_dir: Path | None, config_path: Path | None) -> None:
    """Delete every image of NAME from the gallery; prints each file removed."""
    from face01d.enrollment.gallery_edit import remove_person
    from face01d.galleryshare import remote_edit

    gallery_config, config = _edited_gallery(ctx, gallery_dir, config_path)
    shared = remote_edit.shared(config, gallery_dir)
    for path in remote_edit.remove(config, name) if shared else remove_person(gallery_config, name):
        click.echo(str(path))


@gallery.command("publish")
@_gallery_edit_options
@click.pass_context
@reports_errors
def gallery_publish(ctx: click.Context, gallery_dir: Path | None, config_path: Path | None) -> None:
    """Encode the gallery and leave it on the broker (retained) for nodes with [gallery] source = "broker"."""
    import asyncio

    from face01d.galleryshare.publisher import publish_once
    from face01d.oneshot import build_with_progress, report_lines

    gallery_config, config = _edited_gallery(ctx, gallery_dir, config_path)
    built, report = build_with_progress(gallery_config)
    for line in report_lines(report):
        click.echo(line, err=True)
    manifest = asyncio.run(publish_once(config.mqtt, config.daemon.node_id, gallery_config, built))
    _print_json({"version": manifest.version, "sha256": manifest.sha256, "people": manifest.people,
                 "encodings": manifest.encodings, "chunks": manifest.chunks, "size": manifest.size})


@cli.command("check")
@reports_errors
def self_check() -> None:
    """Check Python, CPU features, dlib (and its CUDA flag), model files, mediapipe, OpenCV."""
    from face01d.selfcheck import run_checks

    results = run_checks()
    for result in results:
        mark = "ok" if result.ok else "FAIL"
        click.echo(f"{mark:4}  {result.name}: {result.detail}")
    failed = [result.name for result in results if not result.ok]
    if failed:
        _fail(f"missing or broken: {', '.join(failed)}", ExitCode.CHECK)


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@_config_option()
@reports_errors
def config_check(config_path: Path) -> None:
    """Validate the config and print the effective settings, secrets masked."""
    from face01d.config.loader import load_config, masked, no_camera_problem

    config = load_config(config_path)
    click.echo(json.dumps(masked(config), ensure_ascii=False, indent=2))
    problem = no_camera_problem(config)
    if problem is not None:  # a partial config may be checked; `run` refuses it (exit 3)
        click.echo(f"face01d: WARNING: {config_path}: cameras: {problem}; `face01d run` will refuse this config",
                   err=True)


@cli.command()
@click.argument("events", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("timeline.png"),
              show_default=True, help="PNG to write.")
@click.pass_context
@reports_errors
def report(ctx: click.Context, events: Path, out: Path) -> None:
    """Draw who was seen on which camera when, from `run --stdout` or `mosquitto_sub -v` lines."""
    from face01d.config.models import LogFormat
    from face01d.log import configure_logging
    from face01d.report import write_report

    configure_logging(ctx.obj["log_level"] or "warning", LogFormat.AUTO, all_to_stderr=True)
    timeline = write_report(events, out)
    if timeline.skipped:
        click.echo(f"face01d: {events}: {timeline.skipped} lines were not face01d events (left out)", err=True)
    people = len({bar.name for bar in timeline.bars})
    click.echo(f"{out}: {len(timeline.rows())} rows, {people} people, {len(timeline.bars)} stays, "
               f"{len(timeline.unknown)} unknown faces"
               + (f", {len(timeline.access)} access decisions" if timeline.access else ""))


from face01d.cli_unknown import unknown  # noqa: E402 - it uses the helpers above

cli.add_command(unknown)


def main() -> None:
    cli(prog_name="face01d")

"""``face01d unknown``: the kept unknown faces, from the shell (cli.py registers it).

A module of its own so that cli.py stays under the 400-line budget; it uses
cli.py's helpers, which are defined before cli.py imports it, and like them
imports the heavy modules (numpy, dlib, scipy) only inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from face01d.cli import _edited_gallery, _gallery_edit_options, _print_json, _unknown_dir_option, reports_errors


@click.group("unknown")
def unknown() -> None:
    """The unknown faces kept for enrollment ([enrollment] keep_unknown)."""


@unknown.command("groups")
@_gallery_edit_options
@_unknown_dir_option
@click.pass_context
@reports_errors
def unknown_groups(ctx: click.Context, gallery_dir: Path | None, config_path: Path | None,
                   unknown_dir: Path | None) -> None:
    """Print the kept crops grouped by who they are, biggest first (JSON lines), less ignored groups
    and crops the gallery now recognises. The first run encodes each crop (then cached)."""
    from face01d.enrollment.groups import UnknownGroups, folder_recognises
    from face01d.enrollment.unknown import unknown_dir as configured_unknown_dir

    gallery_config, config = _edited_gallery(ctx, gallery_dir, config_path)
    groups = UnknownGroups(unknown_dir or configured_unknown_dir(config), gallery_config,
                           folder_recognises(gallery_config))
    for group in groups.groups():
        _print_json(group.as_dict())

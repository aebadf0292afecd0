"""face01d's error types and the process exit codes they map to.

Library code raises these; only the command line turns them into an exit
code and one line on stderr. Nothing inside the package calls ``exit()``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes of the ``face01d`` command (see README)."""

    OK = 0
    FAILURE = 1  # an unexpected error (a bug): the traceback is logged
    USAGE = 2  # bad command-line arguments (click's own code)
    CONFIG = 3  # config file missing, unreadable or invalid
    INPUT = 4  # a path given on the command line is missing or not an image/video
    GALLERY = 5  # gallery folder missing, empty or with no usable face
    MODEL = 6  # a model file or native library is missing or broken
    LOCKED = 7  # another face01d already holds the lock file
    CHECK = 8  # `face01d check` found a problem


class Face01dError(Exception):
    """Base class: a problem the user can fix, with the exit code it deserves."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(Face01dError):
    exit_code = ExitCode.CONFIG


class InputError(Face01dError):
    exit_code = ExitCode.INPUT


class ImageReadError(InputError):
    """A file that is missing, unreadable or not a decodable image."""


class GalleryError(Face01dError):
    exit_code = ExitCode.GALLERY


class ModelError(Face01dError):
    exit_code = ExitCode.MODEL


class LockedError(Face01dError):
    exit_code = ExitCode.LOCKED

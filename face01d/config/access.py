"""``[access]``: what an access camera's door needs before it opens (face01d/access decides).

A camera marked ``access = true`` raises one ``access`` event per track:
``granted`` only for a registered person matched at ``min_percentage`` or
better on ``min_votes`` looks, whose face came ``min_face_px`` wide and was
judged live (a blink or a glance) within ``liveness_deadline_s``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from face01d.config.section import Section


class AccessConfig(Section):
    """The door's rules, for every camera with ``access = true`` (others ignore this section)."""

    # a blink or a glance must come within this long of the face's first frame at the door, else not live
    liveness_deadline_s: Annotated[float, Field(gt=0, le=30)] = 3.0
    min_votes: Annotated[int, Field(ge=1, le=50)] = 3  # looks the identity must rest on
    min_percentage: Annotated[float, Field(gt=0, lt=100)] = 98.6  # FACE01's percentage; 98.6 ≈ distance 0.50
    # narrower faces are "too far": not at the door yet (liveness and the clock start at this width)
    min_face_px: Annotated[int, Field(ge=1, le=4096)] = 100

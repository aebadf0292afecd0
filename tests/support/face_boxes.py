"""Face boxes the vision tests compare against."""

from __future__ import annotations

from face01d.faces import FaceBox

OBAMA_BOX = FaceBox(top=142, right=617, bottom=409, left=349)  # face_recognition's documented result


def near(a: FaceBox, b: FaceBox, tolerance: float) -> bool:
    """Every edge of ``a`` within ``tolerance`` pixels of ``b``'s."""
    return all(abs(x - y) <= tolerance for x, y in zip(a.as_tuple(), b.as_tuple()))

"""The live view: an MJPEG preview per camera with FACE01's drawing, drawn only while somebody watches."""

from face01d.liveview.drawing import DrawOptions, draw_overlay
from face01d.liveview.routes import preview_routes
from face01d.liveview.view import LiveView

__all__ = ["DrawOptions", "LiveView", "draw_overlay", "preview_routes"]

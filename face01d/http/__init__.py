"""The metrics and health server: ``/metrics``, ``/healthz``, ``/readyz`` (see ``[http]`` in config.toml)."""

from face01d.http.routes import Readiness, make_app
from face01d.http.server import HttpServer

__all__ = ["HttpServer", "Readiness", "make_app"]

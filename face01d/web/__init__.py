"""The daemon's web page: login, Cameras, Events, Unknown faces, Gallery (issue 15).

``make_web`` builds a ``WebPage`` when ``[http]`` is on with a token;
``web_routes`` serves it beside the API; ``WebAuth`` replaces the bearer-token
middleware so a logged-in browser's cookie works too (CSRF-checked changes);
the page's ``EventLog`` is an output, handed to the daemon's sinks.
"""

from face01d.web.auth import WebAuth
from face01d.web.page import WebPage, make_web
from face01d.web.routes import web_routes

__all__ = ["WebAuth", "WebPage", "make_web", "web_routes"]

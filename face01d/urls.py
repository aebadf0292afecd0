"""URLs fit for logs: cameras put passwords in them, logs must not."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_QUERY_KEYS = ("pass", "pwd", "token", "secret", "key", "auth", "sig")


def redact_url(url: str) -> str:
    """The URL without its password (user-info or query parameters such as
    ``?user=admin&pwd=x`` of CGI snapshot cameras), fit for logs and errors."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.hostname or ""
        parts = parts._replace(netloc=f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else ""))
    if parts.query:
        query = [(k, "***" if any(word in k.lower() for word in _SECRET_QUERY_KEYS) else v)
                 for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return urlunsplit(parts)

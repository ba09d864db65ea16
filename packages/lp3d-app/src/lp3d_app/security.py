"""Who may talk to the server, the Jupyter way: a token, Host and Origin checks, a base URL.

- **Token**: every API call and asset needs it (unless the server runs on the loopback interface
  with the token explicitly turned off). A client sends it as ``Authorization: token <t>`` (or
  ``Bearer``), as the cookie the page gets, or once as ``?token=<t>`` in the URL that ``lp3d app``
  prints: the page then sets the cookie and redirects to the same URL without the token, so it
  does not stay in the address bar, the history or a proxy's logs. The server never logs it.
- **Host**: on the loopback interface only ``localhost``, ``127.0.0.1`` and ``[::1]`` are accepted
  (a DNS-rebinding page names its own host); on another interface any host (the token protects it).
- **Origin**: a request that carries an ``Origin`` must come from the page's own origin (no other
  site can call the API from a visitor's browser).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

__all__ = ["LOOPBACK_HOSTS", "Security", "is_loopback", "new_token", "check_request", "COOKIE"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
COOKIE = "lp3d_token"


def is_loopback(host: str) -> bool:
    """Whether a bind address is the loopback interface."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_hex(24)


@dataclass(frozen=True)
class Security:
    """The server's access rules.

    Attributes:
        token: the token, or None for none (only allowed on the loopback interface).
        loopback: the server listens on the loopback interface only (Host is checked).
        base_url: the path prefix (``""`` or ``"/prefix"``).
    """

    token: str | None
    loopback: bool
    base_url: str = ""

    def __post_init__(self) -> None:
        if self.token is None and not self.loopback:
            raise ValueError("--token: expected a token when listening beyond the loopback interface, but got none")
        if self.token is not None and len(self.token) < 8:
            raise ValueError(f"--token: expected at least 8 characters, but got {len(self.token)}")

    @property
    def cookie_name(self) -> str:
        return COOKIE


def _hostname(value: str) -> str:
    """``host[:port]`` or ``[v6]:port`` -> the host name, lower case, without brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def presented_token(request: Request) -> str | None:
    """The token a request carries (header, cookie or query), if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and value:
        return value.strip()
    if "x-lp3d-token" in request.headers:
        return request.headers["x-lp3d-token"]
    if COOKIE in request.cookies:
        return request.cookies[COOKIE]
    return request.query_params.get("token")


def token_matches(security: Security, token: str | None) -> bool:
    if security.token is None:
        return True
    return token is not None and hmac.compare_digest(token.encode(), security.token.encode())


def check_host_and_origin(security: Security, request: Request) -> None:
    """Raises 403 for a foreign Host (on loopback) or a cross-origin request."""
    host = request.headers.get("host", "")
    if security.loopback and _hostname(host) not in LOOPBACK_HOSTS:
        raise HTTPException(403, f"Host header: expected localhost, 127.0.0.1 or [::1], but got {host!r}")
    origin = request.headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc.lower() != host.lower():
            raise HTTPException(403, f"Origin: expected this server's own origin, but got {origin!r}")


def check_request(request: Request) -> None:
    """The dependency on every route: Host, Origin and the token (see the module docstring)."""
    security: Security = request.app.state.security
    check_host_and_origin(security, request)
    if not token_matches(security, presented_token(request)):
        raise HTTPException(
            401,
            "token: expected the token of this server (open the URL that lp3d app printed), but got none or another",
        )

"""Where decision callbacks may go: the URL check the API runs when a site sets its webhook, and the
worker runs again before every delivery attempt (then also on every address the host resolves to).

A callback URL is ``http`` or ``https`` with a host whose every label encodes to 1-63 characters (IDNA;
a longer label made delivery crash with ``UnicodeError``). Unless ``COMMENTMOD_WEBHOOK_ALLOW_PRIVATE``
is on, the host may not be, or resolve to, a loopback, link-local (169.254/16, fe80::/10), private,
shared, reserved, multicast or unspecified address, nor be ``localhost``: a site key must not make the
workers send requests into the network they run in (blind request forgery).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from service.core.validation import is_encodable

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63


class UrlRefused(ValueError):
    """The URL may not receive callbacks; ``reason`` says why in a few words (for a 422 or a log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def ascii_host(host: str) -> str:
    """The host as sent on the wire (IDNA), every label 1-63 characters; raises ``UrlRefused``."""
    name = host.rstrip(".")
    try:
        encoded = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise UrlRefused("a host name label is empty or longer than 63 characters") from None
    labels = encoded.split(".")
    if not name or len(encoded) > MAX_HOST_LENGTH or any(not 0 < len(x) <= MAX_LABEL_LENGTH for x in labels):
        raise UrlRefused("a host name of labels of 1 to 63 characters, 253 in all")
    return encoded.lower()


def check_url(url: object, allow_private: bool = False) -> str:
    """``url`` when callbacks may be sent there; raises ``UrlRefused``. Names are resolved only at
    delivery (``is_public_address`` on each address); an address literal is judged here."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not is_encodable(url):
        raise UrlRefused("an http(s) URL")  # of at most 2048 characters
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UrlRefused("an http(s) URL") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise UrlRefused("an http(s) URL")
    if _is_address(host):
        if not allow_private and not is_public_address(host):
            raise UrlRefused("a public address (not loopback, link-local or private)")
        return url
    name = ascii_host(host)
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        raise UrlRefused("a public address (not loopback, link-local or private)")
    return url


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True

"""Where webhooks may go: https only, and never to loopback, private, link-local or otherwise
non-public addresses. A development deployment (`KASSA_ENV=development`) may use http and local
addresses. The rule is checked when a URL is saved and again on every delivery, against the
addresses the host name resolves to at that moment."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from app.kit.errors import FieldIssue
from app.webhooks.errors import WebhookUrlNotAllowed

MAX_URL_LENGTH = 2048


def check_url_shape(issues: list[FieldIssue], url: str, *, development: bool) -> str:
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        issues.append(FieldIssue(("url",), f"must be at most {MAX_URL_LENGTH} characters", "too_long"))
        return url
    parts = urlsplit(url)
    allowed_schemes = {"https", "http"} if development else {"https"}
    if parts.scheme not in allowed_schemes or not parts.hostname:
        issues.append(FieldIssue(("url",), "must be an https:// URL with a host", "url_not_allowed"))
    elif parts.username or parts.password:
        issues.append(FieldIssue(("url",), "must not contain credentials", "url_not_allowed"))
    return url


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_public_addresses(url: str, *, development: bool) -> list[str]:
    """The addresses `url`'s host resolves to; raises WebhookUrlNotAllowed if any is not public
    or if it does not resolve. A development deployment skips the check (and returns [])."""
    if development:
        return []
    host = urlsplit(url).hostname or ""
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookUrlNotAllowed(f"host {host!r} does not resolve: {exc.strerror}") from None
    addresses = sorted({info[4][0] for info in infos})
    private = [a for a in addresses if not _is_public(a)]
    if private:
        raise WebhookUrlNotAllowed(f"host {host!r} resolves to a non-public address ({private[0]})")
    return addresses

"""Where webhooks may go: https only, and never to loopback, private, link-local or otherwise
non-public addresses. A development deployment (`KASSA_ENV=development`) may use http and local
addresses.

The rule is checked when a URL is saved, and again every time the worker opens a connection:
the host name is resolved once, every address it resolves to must be public, and the connection
goes to one of those checked addresses (`workers/webhook_delivery.py: CheckedNetworkBackend`), so a
DNS answer that changes between the check and the connection (DNS rebinding) cannot redirect it.

An IPv6 address that embeds an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo,
ISATAP) is judged by the IPv4 address too: `[64:ff9b::7f00:1]` is loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

import idna

from app.kit.errors import FieldIssue
from app.webhooks.errors import WebhookUrlNotAllowed

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253

_ASCII_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")

# IPv6 ranges that embed an IPv4 address in their last 32 bits (RFC 4291, RFC 6052, RFC 8215).
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
# Not globally reachable per the IANA special-purpose registry, though older Pythons call them global.
_NOT_GLOBAL = (
    _NAT64_LOCAL,
    ipaddress.IPv6Network("2001:2::/48"),  # benchmarking
    ipaddress.IPv6Network("3fff::/20"),  # documentation
    ipaddress.IPv6Network("5f00::/16"),  # segment routing SIDs
)
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # interface id 0:5efe:a.b.c.d or 200:5efe:a.b.c.d


def ascii_host(host: str) -> str:
    """`host` as it goes on the wire: an IP address as is, a name checked label by label and
    IDNA-encoded. Raises ValueError with a reason for an invalid name."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host  # a fully qualified name may end with a dot
    labels = name.split(".")
    encoded = []
    for label in labels:
        if not label:
            raise ValueError("has an empty label (two dots in a row, or a leading dot)")
        if label.isascii():
            if len(label) > 63:
                raise ValueError(f"has a label longer than 63 characters ({label[:20]}...)")
            if not _ASCII_LABEL.fullmatch(label):
                raise ValueError(f"has an invalid label {label!r} (letters, digits and inner hyphens only)")
            if label.lower().startswith("xn--"):  # an A-label (`xn--...`) must decode
                try:
                    idna.decode(label)
                except (idna.IDNAError, UnicodeError):
                    raise ValueError(f"has an invalid international label {label!r}") from None
            encoded.append(label.lower())
        else:
            try:
                encoded.append(idna.encode(label, uts46=True).decode("ascii"))
            except idna.IDNAError as exc:
                raise ValueError(f"has an invalid international label {label!r}: {exc}") from None
    result = ".".join(encoded)
    if len(result) > MAX_HOST_LENGTH:
        raise ValueError(f"is longer than {MAX_HOST_LENGTH} characters")
    return result


def check_url_shape(issues: list[FieldIssue], url: str, *, development: bool) -> str:
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        issues.append(FieldIssue(("url",), f"must be at most {MAX_URL_LENGTH} characters", "too_long"))
        return url
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        issues.append(FieldIssue(("url",), "is not a valid URL", "invalid"))
        return url
    allowed_schemes = {"https", "http"} if development else {"https"}
    if parts.scheme not in allowed_schemes or not hostname:
        issues.append(FieldIssue(("url",), "must be an https:// URL with a host", "url_not_allowed"))
        return url
    if parts.username or parts.password:
        issues.append(FieldIssue(("url",), "must not contain credentials", "url_not_allowed"))
        return url
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        issues.append(FieldIssue(("url",), "has an invalid port: use a number from 1 to 65535", "invalid"))
        return url
    try:
        ascii_host(hostname)
    except ValueError as exc:
        issues.append(FieldIssue(("url",), f"has an invalid host name: it {exc}", "invalid"))
    return url


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped (::ffff:0:0/96), IPv4-compatible
    (::/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16, the gateway), Teredo
    (2001::/32, the server and the client) and ISATAP (interface id 0:5efe / 200:5efe)."""
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE or ip in _NAT64 or ip in _NAT64_LOCAL:
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if (int(ip) >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        found.append(low32)
    return found


def _is_public_ipv4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not ip.is_multicast


def is_public(address: str) -> bool:
    """Whether a webhook may be sent to `address` (an IP address, maybe with an IPv6 zone)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public_ipv4(ip)
    embedded = embedded_ipv4(ip)
    if not all(_is_public_ipv4(v4) for v4 in embedded):
        return False
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d, whatever Python thinks of the range
        return True
    return ip.is_global and not ip.is_multicast and not any(ip in network for network in _NOT_GLOBAL)


async def resolve_checked(host: str, port: int, *, development: bool) -> list[str]:
    """Resolve `host` once and return its addresses, in the resolver's order. Outside
    development every one must be public, else WebhookUrlNotAllowed (also when it does not
    resolve). Connect only to what this returns."""
    try:
        name = ascii_host(host)
    except ValueError as exc:
        raise WebhookUrlNotAllowed(f"host name {host!r} {exc}") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlNotAllowed(f"host {host!r} does not resolve: {getattr(exc, 'strerror', None) or exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise WebhookUrlNotAllowed(f"host {host!r} does not resolve")
    if not development:
        private = [a for a in addresses if not is_public(a)]
        if private:
            raise WebhookUrlNotAllowed(f"host {host!r} resolves to a non-public address ({private[0]})")
    return addresses


async def resolve_public_addresses(url: str, *, development: bool) -> list[str]:
    """The addresses `url`'s host resolves to; raises WebhookUrlNotAllowed if any is not public
    or if it does not resolve. A development deployment skips the check (and returns [])."""
    if development:
        return []
    parts = urlsplit(url)
    return await resolve_checked(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), development=False)

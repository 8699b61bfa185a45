"""Sign HTTP requests for hmac-kit with the Python standard library.

The default scheme is hmac-kit's RFC 9421 (HTTP Message Signatures) profile with an
RFC 9530 ``Content-Digest`` over the body; ``sign_x_api`` covers the X-API-* scheme.
See docs/protocol.md for the exact rules and docs/clients.md for usage.

    >>> from hmac_kit_client import sign
    >>> signed = sign("GET", "https://api.example.com/v1/whoami", key_id="hk_...", secret="hks_...")
    >>> signed.headers  # Signature, Signature-Input (and Content-Digest when there is a body)

``HmacKitAuth`` plugs the same signer into ``requests`` (when it is installed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets as _secrets
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence, Tuple, Union

# The released version; clients/python/pyproject.toml carries the same number (a test checks it).
__version__ = "0.1.0"

__all__ = [
    "Signed",
    "HmacKitAuth",
    "content_digest",
    "normalize_url",
    "parse_secret",
    "sign",
    "sign_components",
    "sign_x_api",
    "signature_base",
    "urlopen_signed",
]

Body = Union[bytes, bytearray, memoryview, str, None]
HeaderValue = Union[str, Sequence[str]]

# How each key algorithm maps to the RFC 9421 `alg` parameter and a hash.
HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
ALG_NAMES = {"sha256": "hmac-sha256", "sha384": "hmac-sha384", "sha512": "hmac-sha512"}
DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
# Methods whose (possibly empty) body is always covered by Content-Digest (docs/protocol.md "hasBody").
BODY_METHODS = {"POST", "PUT", "PATCH"}
DEFAULT_PORTS = {"http": 80, "https": 443}

# WHATWG URL percent-encode sets, so that what we sign is what any server that re-parses
# the request target (Node's URL, browsers' fetch) sees: re-encoding is then a no-op.
_C0_AND_SPACE = {chr(c) for c in range(0x21)} | {"\x7f"}
_PATH_ENCODE = _C0_AND_SPACE | set('"#<>?`{}')
_QUERY_ENCODE = _C0_AND_SPACE | set("\"#<>'")


@dataclass
class Signed:
    """What signing produced: the URL to send to, the headers to add, and the signature base (for debugging)."""

    url: str
    headers: dict = field(default_factory=dict)
    signature_base: str = ""


def parse_secret(secret: Union[str, bytes, bytearray]) -> bytes:
    """Raw key bytes of a secret: ``hks_<base64url>`` strings or raw bytes."""
    if isinstance(secret, (bytes, bytearray)):
        if not secret:
            raise TypeError("secret must not be empty")
        return bytes(secret)
    if not isinstance(secret, str) or not secret.startswith("hks_"):
        raise TypeError("secret must be an hks_... string or raw bytes")
    encoded = secret[4:]
    if not encoded or any(c not in _B64URL for c in encoded) or len(encoded) % 4 == 1:
        raise TypeError("secret is not valid hks_<base64url>")
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    if len(raw) < 32:
        raise TypeError("secret must encode at least 32 bytes")
    return raw


_B64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _percent_encode(text: str, encode_set: set) -> str:
    out = []
    for ch in text:
        if ch in encode_set or ord(ch) > 0x7E:
            out.append("".join("%%%02X" % b for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def _is_dot(segment: str, dots: int) -> bool:
    return segment.lower().replace("%2e", ".") == "." * dots


def _normalize_path(path: str) -> str:
    path = path.replace("\\", "/")
    if not path.startswith("/"):
        path = "/" + path
    out: list = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if _is_dot(segment, 2):
            if out:
                out.pop()
            if last:
                out.append("")
        elif _is_dot(segment, 1):
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(_percent_encode(s, _PATH_ENCODE) for s in out)


def normalize_url(url: str) -> str:
    """The URL as a WHATWG URL parser would serialize it (the form hmac-kit signs and sends).

    Non-ASCII and unsafe characters in the path and query are percent-encoded as UTF-8, existing
    escapes are kept, dot segments are resolved, the host is lower-cased, default ports and the
    fragment are dropped.
    """
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise TypeError("url must be an absolute http(s) URL")
    host = parts.hostname.lower()
    if any(ord(c) > 0x7E for c in host):
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = "[%s]" % host
    port = parts.port
    authority = host if port is None or port == DEFAULT_PORTS[scheme] else "%s:%d" % (host, port)
    path = _normalize_path(parts.path)
    query = "?" + _percent_encode(parts.query, _QUERY_ENCODE) if "?" in url.split("#", 1)[0] else ""
    return "%s://%s%s%s" % (scheme, authority, path, query)


def _body_bytes(body: Body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError("body must be bytes or str (read streams/files into bytes first: the digest needs every byte)")


def content_digest(body: Body, algorithm: str = "sha-256") -> str:
    """RFC 9530 Content-Digest header value, e.g. ``sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:``."""
    if algorithm not in DIGESTS:
        raise TypeError("digest algorithm must be sha-256 or sha-512")
    digest = DIGESTS[algorithm](_body_bytes(body)).digest()
    return "%s=:%s:" % (algorithm, base64.b64encode(digest).decode("ascii"))


def _sf_string(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise TypeError("parameter values must be printable ASCII")
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def _sf_param(name: str, value) -> str:
    if value is True:
        return ";%s" % name
    if isinstance(value, int):
        return ";%s=%d" % (name, value)
    return ";%s=%s" % (name, _sf_string(str(value)))


def _header_lookup(headers: Mapping[str, HeaderValue], name: str) -> Optional[str]:
    values = [v for k, v in headers.items() if k.lower() == name]
    if not values:
        return None
    flat: list = []
    for v in values:
        flat.extend([v] if isinstance(v, str) else list(v))
    # RFC 9421 2.1: unfold obsolete line folding, trim each field line, join repeated lines with ", ".
    return ", ".join(re.sub(r"[ \t]*\r?\n[ \t]+", " ", str(x)).strip(" \t") for x in flat)


def _component_value(name: str, method: str, url: str, headers: Mapping[str, HeaderValue]) -> str:
    parts = urllib.parse.urlsplit(url)
    if name == "@method":
        return method
    if name == "@authority":
        return parts.netloc.lower()
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@target-uri":
        return url
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return "?" + parts.query
    if name == "@request-target":
        return (parts.path or "/") + ("?" + parts.query if parts.query else "")
    if name.startswith("@"):
        raise TypeError("unsupported derived component %s" % name)
    value = _header_lookup(headers, name)
    if value is None:
        raise TypeError("covered header %s is not in the request" % name)
    return value


def signature_base(
    method: str,
    url: str,
    headers: Mapping[str, HeaderValue],
    components: Sequence[str],
    params: Sequence[Tuple[str, object]],
) -> Tuple[str, str]:
    """The RFC 9421 signature base and the serialized signature parameters (the Signature-Input value)."""
    inner = "(%s)" % " ".join('"%s"' % c for c in components)
    signature_params = inner + "".join(_sf_param(n, v) for n, v in params)
    lines = ['"%s": %s' % (c, _component_value(c, method, url, headers)) for c in components]
    lines.append('"@signature-params": %s' % signature_params)
    return "\n".join(lines), signature_params


def sign_components(
    method: str,
    url: str,
    headers: Mapping[str, HeaderValue],
    components: Sequence[str],
    params: Sequence[Tuple[str, object]],
    secret: Union[str, bytes],
    algorithm: str = "sha256",
    label: str = "sig",
) -> Signed:
    """Low-level RFC 9421 signer: exactly these components and parameters, in this order."""
    if algorithm not in HASHES:
        raise TypeError("algorithm must be sha256, sha384 or sha512")
    base, signature_params = signature_base(method, url, headers, components, params)
    mac = hmac.new(parse_secret(secret), base.encode("utf-8"), HASHES[algorithm]).digest()
    return Signed(
        url=url,
        headers={
            "Signature-Input": "%s=%s" % (label, signature_params),
            "Signature": "%s=:%s:" % (label, base64.b64encode(mac).decode("ascii")),
        },
        signature_base=base,
    )


def sign(
    method: str,
    url: str,
    *,
    key_id: str,
    secret: Union[str, bytes],
    headers: Optional[Mapping[str, HeaderValue]] = None,
    body: Body = None,
    algorithm: str = "sha256",
    covered_headers: Iterable[str] = (),
    label: str = "sig",
    digest_algorithm: str = "sha-256",
    created: Optional[int] = None,
    expires_in: Optional[int] = None,
    nonce: Union[str, bool, None] = None,
    tag: Optional[str] = None,
) -> Signed:
    """Signs a request with hmac-kit's RFC 9421 profile.

    Returns the normalized URL to send to and the headers to add (``Signature-Input``,
    ``Signature`` and, when the request has a body or is a POST/PUT/PATCH, ``Content-Digest``).
    ``nonce=False`` leaves the nonce out (only for servers configured not to require one).

    >>> signed = sign("POST", "https://api.example.com/orders", key_id="hk_1", secret=b"k" * 32, body='{"a":1}')
    >>> sorted(signed.headers)
    ['Content-Digest', 'Signature', 'Signature-Input']
    """
    method = method.upper()
    url = normalize_url(url)
    payload = _body_bytes(body)
    all_headers: dict = dict(headers or {})
    added: dict = {}
    components = ["@method", "@authority", "@path", "@query"]
    if payload or method in BODY_METHODS:
        added["Content-Digest"] = content_digest(payload, digest_algorithm)
        all_headers["Content-Digest"] = added["Content-Digest"]
        components.append("content-digest")
    for name in covered_headers:
        lowered = name.lower()
        if lowered not in components:
            components.append(lowered)
    now = int(time.time()) if created is None else int(created)
    params: list = [("created", now)]
    if expires_in is not None:
        params.append(("expires", now + int(expires_in)))
    if nonce is not False:
        params.append(("nonce", nonce if isinstance(nonce, str) else _secrets.token_urlsafe(16)))
    params.append(("keyid", key_id))
    params.append(("alg", ALG_NAMES.get(algorithm, "")))
    if tag is not None:
        params.append(("tag", tag))
    signed = sign_components(method, url, all_headers, components, params, secret, algorithm, label)
    signed.headers = {**added, **signed.headers}
    return signed


def sign_x_api(
    method: str,
    url: str,
    *,
    key_id: str,
    secret: Union[str, bytes],
    body: Body = None,
    algorithm: str = "sha256",
    timestamp: Optional[int] = None,
    nonce: Optional[str] = None,
) -> Signed:
    """Signs with the X-API-* scheme (docs/protocol-x-api.md): X-API-Key, -Timestamp, -Nonce, -Signature.

    The string to sign is ``hmac-kit-x-api-v1``, the method, the path, the query sorted by byte value,
    the timestamp, the nonce and the hex hash of the body, joined with LF.

    >>> sign_x_api("GET", "https://api.example.com/v1/items?b=2&a=1", key_id="hk_1", secret=b"k" * 32).headers["X-API-Key"]
    'hk_1'
    """
    if algorithm not in HASHES:
        raise TypeError("algorithm must be sha256, sha384 or sha512")
    url = normalize_url(url)
    parts = urllib.parse.urlsplit(url)
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    nonce = nonce or _secrets.token_hex(16)
    if not re.fullmatch(r"[A-Za-z0-9._~+/=-]{16,128}", nonce):
        raise TypeError("nonce must be 16-128 characters of [A-Za-z0-9._~+/=-]")
    query = "&".join(sorted((p for p in parts.query.split("&") if p), key=lambda p: p.encode("utf-8")))
    body_hash = HASHES[algorithm](_body_bytes(body)).hexdigest()
    base = "\n".join(["hmac-kit-x-api-v1", method.upper(), parts.path or "/", query, ts, nonce, body_hash])
    mac = hmac.new(parse_secret(secret), base.encode("utf-8"), HASHES[algorithm]).hexdigest()
    return Signed(
        url=url,
        headers={"X-API-Key": key_id, "X-API-Timestamp": ts, "X-API-Nonce": nonce, "X-API-Signature": mac},
        signature_base=base,
    )


def urlopen_signed(
    method: str,
    url: str,
    *,
    key_id: str,
    secret: Union[str, bytes],
    headers: Optional[Mapping[str, str]] = None,
    body: Body = None,
    timeout: float = 30.0,
    **options,
):
    """Sends a signed request with ``urllib.request`` and returns the response (errors raise ``HTTPError``)."""
    payload = _body_bytes(body)
    signed = sign(method, url, key_id=key_id, secret=secret, headers=headers, body=payload, **options)
    request = urllib.request.Request(
        signed.url,
        data=payload if (payload or method.upper() in BODY_METHODS) else None,
        headers={**dict(headers or {}), **signed.headers},
        method=method.upper(),
    )
    return urllib.request.urlopen(request, timeout=timeout)


try:  # The requests integration is optional: the signer itself needs only the standard library.
    import requests as _requests

    class HmacKitAuth(_requests.auth.AuthBase):
        """``requests`` auth that signs each prepared request (RFC 9421 profile, or ``scheme="x-api"``).

        >>> session = requests.Session()
        >>> session.auth = HmacKitAuth("hk_...", os.environ["HMAC_SECRET"])
        >>> session.post("https://api.example.com/orders", json={"sku": "A1"})

        Streaming bodies (generators, files) cannot be digested without reading them, so they are
        refused with ``TypeError``: pass ``data=`` as bytes or str.
        """

        def __init__(self, key_id: str, secret: Union[str, bytes], scheme: str = "rfc9421", **options):
            if not key_id:
                raise TypeError("key_id is required")
            if scheme not in ("rfc9421", "x-api"):
                raise TypeError("scheme must be rfc9421 or x-api")
            parse_secret(secret)
            self.key_id = key_id
            self.secret = secret
            self.scheme = scheme
            self.options = options

        def __call__(self, request):
            body = request.body
            if body is not None and not isinstance(body, (bytes, str)):
                raise TypeError("HmacKitAuth needs the whole body to compute Content-Digest: pass bytes or str")
            if self.scheme == "x-api":
                signed = sign_x_api(
                    request.method, request.url, key_id=self.key_id, secret=self.secret, body=body, **self.options
                )
            else:
                signed = sign(
                    request.method,
                    request.url,
                    key_id=self.key_id,
                    secret=self.secret,
                    headers=dict(request.headers),
                    body=body,
                    **self.options,
                )
            request.url = signed.url
            request.headers.update(signed.headers)
            return request

except ImportError:  # pragma: no cover - exercised only where requests is absent

    class HmacKitAuth:  # type: ignore[no-redef]
        """Placeholder that explains the missing optional dependency."""

        def __init__(self, *args, **kwargs):
            raise ImportError("HmacKitAuth needs the 'requests' package (pip install requests)")

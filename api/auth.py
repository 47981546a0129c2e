"""API keys with two roles: viewer (reads) and admin (ingest, analyses,
reviews, exports). Keys come from `KOC_API_KEYS`; with none configured every
caller is admin, which `koc serve` allows on loopback only."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.i18n import _
from api.settings import ApiKey

KEY_HEADER = "X-API-Key"
_key_header = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="viewer or admin key")
_bearer = HTTPBearer(auto_error=False, description="the same key as a bearer token")


def role_of(presented: str, keys: list[ApiKey]) -> str | None:
    """The role of a presented key, or None. Every configured key is compared,
    each in constant time over equal-length digests, so timing says nothing
    about which key (or how much of one) matched."""
    digest = hashlib.sha256(presented.encode()).digest()
    found = None
    for k in keys:
        if hmac.compare_digest(digest, hashlib.sha256(k.key.encode()).digest()):
            found = k.role
    return found


async def caller_role(
    request: Request,
    key: Annotated[str | None, Security(_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> str:
    keys = request.app.state.settings.api_keys
    if not keys:
        return "admin"
    presented = key or (bearer.credentials if bearer else None)
    if not presented:
        raise ApiError(
            401,
            _(
                "an API key is required: send it in the {header} header (or as Authorization: Bearer KEY)",
                header=KEY_HEADER,
            ),
            field=KEY_HEADER,
            location="header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = role_of(presented, keys)
    if role is None:
        raise ApiError(
            401,
            _("the API key is not valid"),
            field=KEY_HEADER,
            location="header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return role


async def viewer(role: Annotated[str, Depends(caller_role)]) -> str:
    return role


async def admin(role: Annotated[str, Depends(caller_role)]) -> str:
    if role != "admin":
        raise ApiError(
            403,
            _(
                "this needs an admin key (ingest, analyses, reviews and exports); yours is a viewer key"
            ),
            field=KEY_HEADER,
            location="header",
        )
    return role


async def sees_full_names(role: Annotated[str, Depends(caller_role)]) -> bool:
    """Whether the caller sees users' names whole (admin) or with mobile
    numbers masked (viewer; api.names)."""
    return role == "admin"


FullNames = Annotated[bool, Depends(sees_full_names)]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""The validated identity handed to routes, and Zitadel's project-role claims."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES_CLAIM = "urn:zitadel:iam:org:project:roles"
PROJECT_ROLES_CLAIM = "urn:zitadel:iam:org:project:{project_id}:roles"


class TokenError(Exception):
    """A credential that is missing, malformed, expired or not meant for this project."""


class ProviderUnavailableError(Exception):
    """The identity provider could not be reached or answered nonsense."""


class InsufficientRoleError(Exception):
    """A valid identity that holds none of the required project roles."""


@dataclass(frozen=True)
class ZitadelClaims:
    """Who is calling: subject, email, display name, project roles and the raw claims."""

    subject: str
    email: str | None = None
    name: str | None = None
    roles: frozenset[str] = frozenset()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def has_any_role(self, roles: Iterable[str]) -> bool:
        """True when ``roles`` is empty or one of them is held."""
        wanted = set(roles)
        return not wanted or bool(wanted & self.roles)


def _role_names(value: object) -> set[str]:
    # Zitadel's shape is {"role": {"orgId": "orgDomain"}}; a plain list is accepted too.
    if isinstance(value, Mapping):
        return {key for key in value if isinstance(key, str)}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def extract_roles(
    claims: Mapping[str, Any], project_id: str, *, trust_generic: bool
) -> frozenset[str]:
    """Project roles from the per-project claim and, when trusted, the generic one.

    The generic claim holds the roles of the project of the app the token was
    issued to, which may be another project that merely added ours to ``aud``.
    It is only trusted when that app is known to be ours.
    """
    roles = _role_names(claims.get(PROJECT_ROLES_CLAIM.format(project_id=project_id)))
    if trust_generic:
        roles |= _role_names(claims.get(ROLES_CLAIM))
    return frozenset(roles)


def issued_to(claims: Mapping[str, Any], client_id: str | None) -> bool:
    """True when the token names ``client_id`` as the app it was issued to."""
    return client_id is not None and client_id in (claims.get("client_id"), claims.get("azp"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def claims_from_mapping(
    raw: Mapping[str, Any], project_id: str, *, trust_generic: bool
) -> ZitadelClaims:
    """Build :class:`ZitadelClaims` from validated token, introspection or userinfo claims."""
    subject = _text(raw.get("sub"))
    if subject is None:
        raise TokenError("the token has no subject")
    return ZitadelClaims(
        subject=subject,
        email=_text(raw.get("email")),
        name=_text(raw.get("name")) or _text(raw.get("preferred_username")),
        roles=extract_roles(raw, project_id, trust_generic=trust_generic),
        raw=dict(raw),
    )


def require_roles(claims: ZitadelClaims, required: Iterable[str]) -> None:
    """Raise :class:`InsufficientRoleError` unless one of ``required`` is held."""
    if not claims.has_any_role(required):
        raise InsufficientRoleError("none of the required project roles is granted")

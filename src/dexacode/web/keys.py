"""API keys: created and revoked by name, stored as a salted hash, checked per request.

A key reads ``dxk_<key id>_<secret>``. The key id is public (it finds the row); the secret
is 32 random bytes and only its salted SHA-256 is kept, so a copy of the database does not
give anyone a working key. A slow password hash would add nothing: the secret is random,
not a word a person chose, and every API call checks it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dexacode.web.tables import api_key, audit_event

__all__ = ["ApiKey", "ApiKeyError", "KeyStore", "KeySummary"]

PREFIX = "dxk"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class ApiKeyError(ValueError):
    """A key could not be created or revoked (one sentence)."""


@dataclass(frozen=True)
class ApiKey:
    """Who is calling: a key that checked out."""

    key_id: str
    name: str


@dataclass(frozen=True)
class KeySummary:
    name: str
    key_id: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used: dt.datetime | None


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KeyStore:
    """API keys in the web tables of the history store's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        c = api_key.c
        self._lookup = sa.select(c.key_id, c.name, c.salt, c.secret_hash).where(
            c.key_id == sa.bindparam("key_id"), c.revoked_at.is_(None)
        )

    def create(self, name: str) -> str:
        """A new key for ``name``; the only time its secret is seen."""
        if not _NAME.match(name):
            raise ApiKeyError(
                f"the key name {name!r} is not usable: use 1 to 64 letters, digits, "
                "'.', '_', '@' or '-', starting with a letter or digit"
            )
        key_id, secret, salt = (
            secrets.token_hex(6),
            secrets.token_urlsafe(32),
            secrets.token_hex(16),
        )
        with self._engine.begin() as conn:
            taken = conn.execute(
                sa.select(api_key.c.id).where(
                    api_key.c.name == name, api_key.c.revoked_at.is_(None)
                )
            ).first()
            if taken is not None:
                raise ApiKeyError(
                    f"a key named {name!r} already exists; revoke it first "
                    f"(dexacode keys revoke {name}) or choose another name"
                )
            conn.execute(
                sa.insert(api_key).values(
                    key_id=key_id,
                    name=name,
                    salt=salt,
                    secret_hash=_digest(salt, secret),
                    created_at=_now(),
                )
            )
        return f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, name: str) -> int:
        """Revoke every live key of ``name``; return how many were revoked."""
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.update(api_key)
                .where(api_key.c.name == name, api_key.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        return int(done.rowcount or 0)

    def check(self, token: str) -> ApiKey | None:
        """The key behind ``token``, or None when it is malformed, unknown or revoked."""
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(self._lookup, {"key_id": parts[1]}).first()
        if row is None:
            return None
        if not hmac.compare_digest(_digest(row.salt, parts[2]), row.secret_hash):
            return None
        return ApiKey(key_id=row.key_id, name=row.name)

    def is_live(self, key_id: str) -> bool:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(api_key.c.id).where(
                    api_key.c.key_id == key_id, api_key.c.revoked_at.is_(None)
                )
            ).first()
        return row is not None

    def any_live(self) -> bool:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(api_key.c.id).where(api_key.c.revoked_at.is_(None)).limit(1)
            ).first()
        return row is not None

    def summaries(self) -> list[KeySummary]:
        """Every key, live and revoked, with the last claim it coded or batch it scrubbed
        (the audited calls). The audit names the key's owner, so a name's events count
        for the key that was live at the time: a key made again under a revoked one's
        name does not inherit its history."""
        c, a = api_key.c, audit_event.c
        in_life = sa.and_(
            a.key_name == c.name,
            a.at >= c.created_at,
            sa.or_(c.revoked_at.is_(None), a.at <= c.revoked_at),
        )
        query = (
            sa.select(c.name, c.key_id, c.created_at, c.revoked_at, sa.func.max(a.at).label("last"))
            .select_from(api_key.outerjoin(audit_event, in_life))
            .group_by(c.name, c.key_id, c.created_at, c.revoked_at)
            .order_by(c.name, c.created_at)
        )
        with self._engine.connect() as conn:
            return [
                KeySummary(
                    name=r.name,
                    key_id=r.key_id,
                    created_at=r.created_at,
                    revoked_at=r.revoked_at,
                    last_used=r.last,
                )
                for r in conn.execute(query)
            ]

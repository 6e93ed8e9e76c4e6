"""The audit trail: who coded which claim, when, under which rule book, from which input.

One row per coding call (per distinct encounter in a worksheet session, which codes as
the coder types: see ``api.code_route``) and per batch upload and its end. Rows name the
claim id and the input's SHA-256, never a patient id, name or birth date: the hash proves
which input was coded without keeping it. Written in the request, so a call the client
saw answered is on record; a store locked past its timeout refuses the call instead (503).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dexacode.web.tables import audit_event

__all__ = ["AuditEntry", "AuditLog", "sha256_of"]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    key_name: str
    action: str
    claim_id: str | None
    rules_version: str | None
    input_sha256: str
    outcome: str


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = sa.insert(audit_event)

    def record(
        self,
        *,
        key_name: str,
        action: str,
        input_sha256: str,
        outcome: str,
        claim_id: str | None = None,
        rules_version: str | None = None,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                self._insert,
                {
                    "at": dt.datetime.now(dt.UTC),
                    "key_name": key_name,
                    "action": action,
                    "claim_id": claim_id[:200] if claim_id else None,
                    "rules_version": rules_version,
                    "input_sha256": input_sha256,
                    "outcome": outcome[:200],
                },
            )

    def recent(self, limit: int = 100) -> list[AuditEntry]:
        """The newest entries first."""
        c = audit_event.c
        query = (
            sa.select(
                c.at, c.key_name, c.action, c.claim_id, c.rules_version, c.input_sha256, c.outcome
            )
            .order_by(c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [AuditEntry(*row) for row in conn.execute(query)]

"""What the app keeps while it runs: the rule book, the ICD-10-CM index, the stores."""

from __future__ import annotations

from dataclasses import dataclass

from dexacode.icd10 import Icd10Library
from dexacode.rulebook import RuleBook
from dexacode.store import HistoryStore
from dexacode.web.audit import AuditLog
from dexacode.web.jobs import JobRunner
from dexacode.web.keys import KeyStore
from dexacode.web.limits import RateLimiter
from dexacode.web.sessions import SessionBook

__all__ = ["WebContext"]


@dataclass
class WebContext:
    book: RuleBook
    library: Icd10Library
    history: HistoryStore
    keys: KeyStore
    audit: AuditLog
    limiter: RateLimiter
    sessions: SessionBook
    jobs: JobRunner
    db_shown: str  # the database URL with any password hidden
    secure_cookies: bool = False

"""What the app keeps while it runs: the rule book, the ICD-10-CM index, the stores."""

from __future__ import annotations

from dataclasses import dataclass

from dexacode.data import with_loaded_data
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
    # The shipped and configured payer profiles, read once at start; ``book`` adds the
    # CMS data loaded in the data folder at the time of each call.
    base_book: RuleBook
    library: Icd10Library
    history: HistoryStore
    keys: KeyStore
    audit: AuditLog
    limiter: RateLimiter
    sessions: SessionBook
    jobs: JobRunner
    db_shown: str  # the database URL with any password hidden
    secure_cookies: bool = False

    @property
    def book(self) -> RuleBook:
        """The rule book a call codes with: a `dexacode data import` done while the server
        runs is used from the next call on (the overlay is cached until the data changes)."""
        return with_loaded_data(self.base_book)

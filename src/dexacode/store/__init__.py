"""The claim-history store: prior DXA studies by patient, kept across runs and providers.

The frequency rule (a covered bone density study once in 23 whole months) needs the
patient's earlier studies. An encounter can carry them in its ``history`` field; the store
remembers them instead, so a batch run finds the studies that another run, another provider
or an imported claims file recorded. SQLite by default (one file in the user's data folder),
PostgreSQL by URL (``postgresql+psycopg://user@host/db``) for a shared, multi-user store.

>>> from dexacode.store import HistoryStore, read_history_file   # doctest: +SKIP
>>> with HistoryStore() as store:
...     report = store.add(read_history_file(Path("claims.csv")), source="import:claims.csv")
...     priors = store.studies_for(["P-1", "P-2"])     # {"P-1": [PriorStudy, ...]}

Each study may say which payer family it was billed to (``StudyRow.payer_family``; unknown
for imported files). A claim to one family does not count a study another family paid:
``studies_for(ids, family="commercial")``, or ``studies_with_family(ids)`` once and then
``as_seen_by(entries, family, claim_id)`` per claim, gives such a study back with
``covered=False``.

Each study may also say the claim it was billed on (``StudyRow.claim_id``; schema version
3): adding a claim already stored for the patient replaces its earlier version, and a
claim never sees its own earlier version as a prior study (``studies_for(ids,
claim_id=...)``, ``as_seen_by(entries, family, claim_id)``). ``HistoryStore.remove`` takes
out a wrong row.

Studies that ``scrub --record`` adds also say what their claim billed (``StudyRow.billed``;
schema version 4: global, 26, TC or a facility's claim), so that a claim of the same date
sent later can be told a duplicate from the other half of a 26/TC split:
``claims_of_date(entries, day, family, claim_id)``.
"""

from dexacode.store._files import COLUMNS, FORMATS, REQUIRED_COLUMNS, read_history_file
from dexacode.store._model import (
    HistoryFileError,
    ImportReport,
    RowProblem,
    StoreError,
    StudyRow,
)
from dexacode.store._schema import SCHEMA_VERSION
from dexacode.store._store import (
    HistoryStore,
    StoredStudy,
    as_seen_by,
    claims_of_date,
    default_db_url,
    merge_history,
    open_engine,
)

__all__ = [
    "COLUMNS",
    "FORMATS",
    "REQUIRED_COLUMNS",
    "SCHEMA_VERSION",
    "HistoryFileError",
    "HistoryStore",
    "ImportReport",
    "RowProblem",
    "StoreError",
    "StoredStudy",
    "StudyRow",
    "as_seen_by",
    "claims_of_date",
    "default_db_url",
    "merge_history",
    "open_engine",
    "read_history_file",
]

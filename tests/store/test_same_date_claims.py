"""What a recorded claim billed of its study (schema version 4), so that a claim of the
same date sent later is told a duplicate from the other half of a 26/TC split."""

from __future__ import annotations

import datetime

from dexacode.engine import SameDateClaim
from dexacode.store import HistoryStore, StudyRow, claims_of_date

D = datetime.date
DAY = D(2026, 3, 2)


def _recorded(**changes: object) -> StudyRow:
    values: dict[str, object] = {
        "patient_id": "P-1",
        "date_of_service": DAY,
        "cpt": "77080",
        "payer_family": "medicare",
        "claim_id": "C-1",
        "billed": "global",
        **changes,
    }
    return StudyRow(**values)  # type: ignore[arg-type]


def test_the_claims_of_a_date_say_what_each_billed(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add(
            [
                _recorded(claim_id="C-1", billed="professional", provider="READER"),
                _recorded(claim_id="C-1", cpt="77086", billed="professional", provider="READER"),
                _recorded(claim_id="C-2", billed="technical", provider="OWNER"),
                _recorded(claim_id="C-OLD", date_of_service=D(2024, 3, 1)),  # another date
                _recorded(claim_id="C-COM", payer_family="commercial", provider="X"),  # family
            ],
            source="scrub:run-1",
        )
        store.add(  # an imported claims file: no claim part known
            [StudyRow("P-1", DAY, "77080", provider="IMPORTED", claim_id="C-IMP")],
            source="import:claims.csv",
        )
        entries = store.studies_with_family(["P-1"])["P-1"]
        assert {r.claim_id: r.billed for r in store.show("P-1")}["C-IMP"] is None
        found = claims_of_date(entries, DAY, "medicare", claim_id="C-9")
        history, same_date = store.for_claim(" P-1", DAY, "medicare", "C-2")
    assert sorted(found, key=lambda c: c.claim_id) == [
        SameDateClaim("C-1", "professional", ("77080", "77086")),
        SameDateClaim("C-2", "technical", ("77080",)),
    ]
    # A claim never meets its own earlier version; the studies come with the claims.
    assert same_date == [SameDateClaim("C-1", "professional", ("77080", "77086"))]
    assert {(s.date_of_service, s.cpt) for s in history} >= {(D(2024, 3, 1), "77080")}


def test_a_claims_new_version_updates_what_it_billed(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add([_recorded(billed="global")], source="scrub:run-1")
        store.add([_recorded(billed="professional")], source="scrub:run-2")
        assert [r.billed for r in store.show("P-1")] == ["professional"]
        # Another claim of the same study (the same key) leaves the first one's part.
        report = store.add([_recorded(claim_id="C-2", billed="technical")], source="scrub:3")
        assert report.duplicates == 1
        assert [(r.claim_id, r.billed) for r in store.show("P-1")] == [("C-1", "professional")]

"""The API's response models declare exactly the fields of the records the use cases return:
a record that gains, loses or renames a field must change its model too (the models forbid
undeclared fields, so the tests would otherwise meet a 500)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from batchport import errors, reports, sessions
from batchport.service import models

PAIRS = [
    (models.Job, reports.Job, set()),
    (models.Batch, reports.Job, {"rows", "updated", "records"}),
    (models.ReferencingRow, reports.ReferencingRow, set()),
    (models.EditedRow, reports.EditedRow, set()),
    (models.RestoreConflict, reports.RestoreConflict, set()),
    (models.RollbackReport, reports.RollbackReport, set()),
    (models.Session, sessions.Session, {"progress"}),
    (models.RowError, errors.RowError, set()),
]


@pytest.mark.parametrize(
    ("model", "record", "added"), PAIRS, ids=lambda p: getattr(p, "__name__", "")
)
def test_a_response_model_declares_its_records_fields(model, record, added):
    assert set(model.model_fields) == {f.name for f in fields(record)} | added


def test_the_preview_model_declares_what_the_preview_sends():
    job = reports.Job(**dict.fromkeys((f.name for f in fields(reports.Job)), None))
    preview = reports.RollbackPreview(job, {}, [], None)
    assert set(models.RollbackPreview.model_fields) == set(preview.to_json())

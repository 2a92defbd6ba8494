"""The register in the formats a DPO hands out: CSV, ODS (CNIL model), JSON-LD (DPV), PDF (a job)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from django.utils import timezone

from .. import selectors


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    content_type: str
    filename: str


DIRECT_FORMATS = ("csv", "ods", "jsonld")


def register_export(*, fmt: str) -> ExportFile:
    """The register as a file in ``fmt`` (one of DIRECT_FORMATS); the PDF goes through a job."""
    from .csv_export import register_csv
    from .jsonld import register_jsonld
    from .ods import register_ods

    organisation = selectors.organisation_get()
    activities = list(selectors.activities_for_export())
    stamp = timezone.localdate().isoformat()
    if fmt == "csv":
        return ExportFile(register_csv(organisation=organisation, activities=activities),
                          "text/csv; charset=utf-8", f"register-{stamp}.csv")
    if fmt == "ods":
        return ExportFile(register_ods(organisation=organisation, activities=activities),
                          "application/vnd.oasis.opendocument.spreadsheet", f"register-{stamp}.ods")
    if fmt == "jsonld":
        document = register_jsonld(organisation=organisation, activities=activities)
        return ExportFile(json.dumps(document, ensure_ascii=False, indent=2).encode(),
                          "application/ld+json", f"register-{stamp}.jsonld")
    raise ValueError(f"unknown register export format: {fmt}")

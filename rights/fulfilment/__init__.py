"""How each kind of request is carried out. Each module registers one function per kind with
``@fulfils(kind)``; the ``rights_fulfil`` job (rights.jobs) looks it up. A function walks the data
map (registry.datamap), never a hand-kept list of tables, must be safe to run twice, and returns
a Fulfilment for the certificate and the Art. 19 tasks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from registry.job_kinds import ProgressReporter
from registry.models import Job

from ..models import RightsRequest


@dataclass
class SourceCount:
    """What was done to one data-map source: e.g. 3 records of consent.Contact exported."""

    source: str  # the model label, e.g. "consent.Contact"
    count: int
    action: str = ""  # exported, anonymised, updated, flagged…


@dataclass
class KeptRecords:
    """Records not erased because the law requires keeping them (Art. 17(3)), with the reason."""

    source: str
    count: int
    reason: str


@dataclass
class Fulfilment:
    outcome: str  # what was done, for the requester and the certificate (in the request's language)
    sources: list[SourceCount] = field(default_factory=list)
    kept: list[KeptRecords] = field(default_factory=list)
    purpose_ids: list[int] = field(default_factory=list)  # purposes whose recipients are told (Art. 19)

    def counts(self) -> dict:
        return {
            "sources": [vars(s) for s in self.sources],
            "kept": [vars(k) for k in self.kept],
        }


Fulfil = Callable[..., Fulfilment]  # (*, request: RightsRequest, job: Job, report: ProgressReporter)
_registry: dict[str, Fulfil] = {}


def fulfils(kind: str) -> Callable[[Fulfil], Fulfil]:
    def register(function: Fulfil) -> Fulfil:
        _registry[kind] = function
        return function

    return register


def fulfilment_for(kind: str) -> Fulfil | None:
    return _registry.get(kind)


__all__ = ["Fulfilment", "SourceCount", "KeptRecords", "fulfils", "fulfilment_for", "Job", "RightsRequest",
           "ProgressReporter"]

"""What each kind of job does. Apps register their handlers, each with the label people read (the
journal in the admin); the job runner looks them up.

A handler receives the claimed Job and a ``report`` callable for progress (0-100). It must be
idempotent: a job re-run after a crash starts again and must end in the same state.
"""
from __future__ import annotations

from typing import Callable, Protocol

from django.utils.functional import Promise

from .models import Job


class ProgressReporter(Protocol):
    def __call__(self, percent: int) -> None: ...


JobHandler = Callable[[Job, ProgressReporter], None]

_handlers: dict[str, JobHandler] = {}
_labels: dict[str, str | Promise] = {}


def job_handler(kind: str, *, label: str | Promise) -> Callable[[JobHandler], JobHandler]:
    """Register the handler of ``kind``. ``label`` is lazy (registered at import): the kind stays a
    code in the database, the admin shows the label in the active language."""
    def register(function: JobHandler) -> JobHandler:
        _handlers[kind] = function
        _labels[kind] = label
        return function

    return register


def handler_for(kind: str) -> JobHandler | None:
    return _handlers.get(kind)


def known_kinds() -> list[str]:
    return sorted(_handlers)


def job_kind_label(kind: str) -> str:
    """The kind's label in the active language; the code itself for a kind no handler registers
    (a stored job of a kind since renamed or removed)."""
    return str(_labels.get(kind, kind))

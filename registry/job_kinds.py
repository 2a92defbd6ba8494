"""What each kind of job does. Apps register their handlers; the job runner looks them up.

A handler receives the claimed Job and a ``report`` callable for progress (0-100). It must be
idempotent: a job re-run after a crash starts again and must end in the same state.
"""
from __future__ import annotations

from typing import Callable, Protocol

from .models import Job


class ProgressReporter(Protocol):
    def __call__(self, percent: int) -> None: ...


JobHandler = Callable[[Job, ProgressReporter], None]

_handlers: dict[str, JobHandler] = {}


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    def register(function: JobHandler) -> JobHandler:
        _handlers[kind] = function
        return function

    return register


def handler_for(kind: str) -> JobHandler | None:
    return _handlers.get(kind)


def known_kinds() -> list[str]:
    return sorted(_handlers)

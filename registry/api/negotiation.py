"""Content negotiation for the endpoints whose format is their ``?format=`` parameter (a CSV,
NDJSON, ODS or PDF answered as it is, never through a renderer)."""
from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class FormatParameterNegotiation(DefaultContentNegotiation):
    """The ``format`` parameter chooses the document, so the Accept header cannot refuse it: a
    client asking ``Accept: text/csv`` for the CSV audience gets the CSV, not a 406. What DRF
    renders itself there (JSON receipts, error bodies) is JSON when nothing else is accepted."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type

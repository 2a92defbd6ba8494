"""Signals the register sends to the apps built on it (the register never imports them)."""
from django.dispatch import Signal

# A purpose's consent validity changed (sent in the transaction that saved it). Arguments:
# ``purpose``, ``user`` (who changed it, or None). The consent app recomputes when the purpose's
# grants expire.
consent_validity_changed = Signal()

"""Fulfilment of objection requests: being written (see rights.fulfilment)."""

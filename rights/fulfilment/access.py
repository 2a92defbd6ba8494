"""Fulfilment of access requests: being written (see rights.fulfilment)."""

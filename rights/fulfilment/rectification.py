"""Fulfilment of rectification requests: being written (see rights.fulfilment)."""

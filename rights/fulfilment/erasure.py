"""Fulfilment of erasure requests: being written (see rights.fulfilment)."""

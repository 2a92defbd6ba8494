"""Fulfilment of restriction requests: being written (see rights.fulfilment)."""

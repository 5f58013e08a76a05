"""STUB: the command line (being written)."""

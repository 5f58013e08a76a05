"""Datastores: list a watched folder (local or Azure Blob), diff and settle what changed."""

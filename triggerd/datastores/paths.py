"""Where a schedule looks inside its datastore: ``path_on_datastore``, normalised. Pure."""

from __future__ import annotations


def normalise_path_on_datastore(path_on_datastore: str | None) -> str | None:
    """``"/incoming//2024/"`` -> ``"incoming/2024"``; ``""``, ``"/"`` -> None (the root).

    Raises ValueError for a ``..`` component: a schedule never watches outside its datastore.
    """
    if path_on_datastore is None:
        return None
    parts = [p for p in path_on_datastore.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"path_on_datastore {path_on_datastore!r} leaves the datastore ('..')")
    return "/".join(parts) or None

"""Test helper: make a folder look read-only to the review store."""

import os
from pathlib import Path

from labeltui import review


def deny_writes_in(monkeypatch, folder: Path) -> None:
    """os.access reports ``folder`` and its files as not writable, as on a read-only mount."""
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve().is_relative_to(folder.resolve()):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(review.os, "access", access)

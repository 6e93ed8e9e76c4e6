"""Where dexacode keeps the user's data: one folder, named once.

$DEXACODE_DATA_DIR when set, else the per-user data folder. It holds the ICD-10-CM
indexes (icd10cm/), loaded CMS files (cms/) and the default history store.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

__all__ = ["data_dir", "default_store_path"]


def data_dir() -> Path:
    """$DEXACODE_DATA_DIR, else the per-user data folder (read each time: tests and
    long-lived servers may change the variable)."""
    env = os.environ.get("DEXACODE_DATA_DIR")
    return Path(env) if env else _user_data_dir()


@functools.cache
def _user_data_dir() -> Path:
    import platformdirs  # deferred: only needed when no folder is given

    return Path(platformdirs.user_data_dir("dexacode"))


def default_store_path() -> Path:
    """The history store every command uses when none is named."""
    return data_dir() / "history.sqlite3"

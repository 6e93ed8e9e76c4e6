"""pyx12 is an optional dependency (the ``formats`` extra): imported on first use."""

from __future__ import annotations

import logging
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


def import_pyx12() -> ModuleType:
    try:
        import pyx12  # type: ignore[import-untyped]
        import pyx12.error_handler  # type: ignore[import-untyped]
        import pyx12.params  # type: ignore[import-untyped]
        import pyx12.x12context  # type: ignore[import-untyped]
        import pyx12.x12n_document  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError(
            "X12 needs the pyx12 package: install dexacode's formats extra "
            "(pip install 'dexacode[formats]')."
        ) from None
    # pyx12 logs validation errors with the values at fault (birth dates, names): keep
    # them out of the application's logs and off the terminal.
    logger = logging.getLogger("pyx12")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    module: ModuleType = pyx12
    return module

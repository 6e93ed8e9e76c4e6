"""dexacode on the web: the coder's worksheet and the HTTP API (the ``web`` extra).

>>> from dexacode.web import create_app          # doctest: +SKIP
>>> app = create_app("sqlite:///history.sqlite3")
>>> # uvicorn.run(app, host="127.0.0.1", port=8000), or `dexacode serve`
"""

from dexacode.web.app import DEFAULT_RATE_LIMIT, create_app, shutdown
from dexacode.web.keys import ApiKeyError, KeyStore
from dexacode.web.limits import SizeLimits

__all__ = ["DEFAULT_RATE_LIMIT", "ApiKeyError", "KeyStore", "SizeLimits", "create_app", "shutdown"]

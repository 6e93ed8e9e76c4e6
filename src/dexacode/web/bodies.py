"""A JSON body as the API reads it: UTF-8, with or without a byte-order mark.

A coder's tool may save JSON with a byte-order mark (Windows Notepad does) or as UTF-16
(PowerShell 5 does); the first is read, the second is refused with what to do, in the
words the batch path uses for a UTF-16 file.
"""

from __future__ import annotations

import codecs

from dexacode.web.errors import ApiError

__all__ = ["utf8_json"]

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def utf8_json(body: bytes) -> bytes:
    """``body`` without a UTF-8 byte-order mark; a 422 ``contract`` (the body is not an
    encounter) when it is UTF-16 or not UTF-8 at all."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    # JSON in UTF-8 never holds a zero byte (a string escapes it); UTF-16 text is full of them.
    if body.startswith(_UTF16_BOMS) or b"\x00" in body:
        raise ApiError(422, "contract", "the text is UTF-16; save it as UTF-8")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            422,
            "contract",
            f"the text is not UTF-8 (byte {exc.start + 1} is not; it may be Latin-1 or "
            "Windows-1252); save it as UTF-8",
        ) from None
    return body

"""A PDF's text layer through pypdf (the optional extra ``reports``)."""

from __future__ import annotations

import io

from dexacode.reports.model import ReportError

MISSING = (
    "reading PDF reports needs pypdf: install dexacode with the reports extra "
    "(pip install 'dexacode[reports]')"
)


def pdf_text(data: bytes) -> str:
    """Text of every page, laid out in columns where pypdf can; pages separated by newlines."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise ReportError(MISSING) from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ReportError("the PDF is encrypted; export it again without a password")
        pages = []
        for page in reader.pages:
            try:
                text = page.extract_text(extraction_mode="layout")
            except Exception:  # pypdf's layout mode fails on some fonts: plain text then
                text = page.extract_text()
            pages.append(text)
    except PdfReadError as exc:
        raise ReportError(f"not a readable PDF ({exc})") from None
    text = "\n".join(pages)
    if not text.strip():
        raise ReportError(
            "the PDF has no text layer (a scanned image); dexacode does not do OCR: "
            "export the report as text or as a text PDF"
        )
    return text

"""Reading the files a user brings: plain files or CMS's zips of them, decoded as text.

CMS distributes its tables inside zip files (sometimes a zip inside a zip); a user may pass
either the zip or the files taken out of it. Every file becomes one ``InputFile`` whose
``where`` names it in messages (``edits.zip:ccipra-v321r0-f1.txt``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class DataImportError(ValueError):
    """A file was refused: one sentence naming the file (and line) and what is wrong."""


@dataclass(frozen=True)
class InputFile:
    name: str  # the file's own name, without folders
    where: str  # how messages name it
    data: bytes
    archive: str | None = None  # the zip given on the command line, for a zip's member

    @property
    def suffix(self) -> str:
        """The extension, lower case (``.txt``)."""
        return PurePosixPath(self.name).suffix.lower()

    def text(self) -> str:
        """The content as text: UTF-8 (with or without a byte-order mark), else Windows-1252,
        the encoding of older CMS text files."""
        try:
            return self.data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                return self.data.decode("cp1252")
            except UnicodeDecodeError as exc:
                raise DataImportError(
                    f"{self.where}: not a text file (undecodable bytes at offset {exc.start})"
                ) from exc


def read_inputs(paths: Sequence[Path]) -> list[InputFile]:
    """Every file named, with zips opened (members in name order)."""
    out: list[InputFile] = []
    for path in paths:
        if path.is_dir():
            raise DataImportError(f"{path}: is a folder; name the files (or the zip) to import")
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise DataImportError(f"{path}: no such file") from exc
        except OSError as exc:
            raise DataImportError(f"{path}: cannot be read ({exc.strerror})") from exc
        out += _expand(path.name, str(path), data, None)
    return out


def _expand(name: str, where: str, data: bytes, archive: str | None) -> Iterator[InputFile]:
    """``archive``: the zip named on the command line that holds this file (None: the file
    itself was named)."""
    if not name.lower().endswith(".zip"):
        yield InputFile(name, where, data, archive)
        return
    try:
        opened = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DataImportError(f"{where}: not a readable zip file") from exc
    with opened:
        for info in sorted(opened.infolist(), key=lambda i: i.filename):
            member = PurePosixPath(info.filename)
            if info.is_dir() or member.name.startswith((".", "__MACOSX")):
                continue
            if "__MACOSX" in member.parts:
                continue
            try:
                content = opened.read(info)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise DataImportError(
                    f"{where}:{info.filename}: cannot be read from the zip ({exc})"
                ) from exc
            yield from _expand(member.name, f"{where}:{info.filename}", content, archive or where)

"""From a file's bytes to the text the AVA readers parse: one rule for every reader.

- **Compression.** A name ending in ``.gz`` is read through gzip (pandas does the same by
  name). A gzip file whose name does not end in ``.gz`` (its bytes start ``1f 8b``) is an
  error that says so.
- **Encoding.** UTF-8, with or without a byte-order mark, or UTF-16 with its byte-order mark
  (what Windows calls "Unicode"; the label maps are read the same way). Other bytes are an
  error naming the line and showing the bytes: Latin-1 / Windows-1252 text, UTF-16 without
  a mark.
- **NUL bytes.** A NUL byte is an error naming the line and the field: pandas' C parser ends
  a field at a NUL without a word (``0.4\\x00999`` would be read as 0.4, ``vid\\x00x`` as
  ``vid``), while the official script refuses the row.
- **Separators.** :func:`other_separator` tells a line split by ``,``, ``;``, tabs, ``|`` or
  spaces instead of the expected separator, for the readers' messages.

:func:`text_source` applies the first three rules and gives pandas what to read; the
readers turn a ``UnicodeDecodeError`` of pandas into :func:`not_text_error`.
"""

import gzip
import io
import os
import re

from .errors import AVAFormatError

__all__ = [
    "open_binary",
    "read_text",
    "decode",
    "check_nul",
    "text_source",
    "not_text_error",
    "other_separator",
]

_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BLOCK = 1 << 24
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*\Z")
#: Separators recognised in a line that should have been split by another one.
_SEPARATORS = ((";", "';'"), ("\t", "tabs"), ("|", "'|'"), (" ", "spaces"))


def _is_gz_name(path):
    return str(path).lower().endswith(".gz")


def open_binary(path):
    """The file's bytes: through gzip for a ``.gz`` name; AVAFormatError (line 1) for gzip
    bytes under another name."""
    if _is_gz_name(path):
        return gzip.open(path, "rb")
    f = open(path, "rb")
    if f.read(2) == _GZIP_MAGIC:
        f.close()
        raise AVAFormatError(
            path,
            1,
            None,
            "the file is gzip-compressed (its bytes start 1f 8b) but its name does not end in "
            f".gz: rename it to {os.path.basename(str(path))}.gz (read as gzip by the name) or "
            "decompress it",
            whole_file=True,
        )
    f.seek(0)
    return f


def _utf16_without_bom(head):
    """Whether the first bytes look like UTF-16 text without a byte-order mark (ASCII text
    in UTF-16 has a NUL in every other byte)."""
    pairs = len(head) // 2
    if pairs < 2:
        return False
    even, odd = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    return max(even, odd) >= 0.75 * pairs and min(even, odd) == 0


def _line_at(data, pos):
    """(1-based line, column within the line) of byte / character ``pos``."""
    nl = data.rfind(b"\n" if isinstance(data, bytes) else "\n", 0, pos)
    return data.count(b"\n" if isinstance(data, bytes) else "\n", 0, pos) + 1, pos - nl


def decode(data, path):
    """File bytes -> text: UTF-8 (a byte-order mark is dropped), or UTF-16 with its mark.

    Raises:
        AVAFormatError naming the line and showing the bytes that are not UTF-8.
    """
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise AVAFormatError(
                path, None, None, f"not valid UTF-16 text ({e.reason})", whole_file=True
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data, e.start) from None


def _not_utf8(path, data, pos):
    line, col = _line_at(data, pos)
    if _utf16_without_bom(data[:64]):
        what = "it looks like UTF-16 without a byte-order mark (a NUL in every other byte)"
    else:
        bad = data[pos : pos + 4]
        bad = bad[: next((i for i in range(1, len(bad)) if bad[i] < 0x80), len(bad))]
        try:
            what = (
                f"bytes {bad!r} at column {col} look like Latin-1 / Windows-1252 "
                f"({bad.decode('cp1252')!r})"
            )
        except UnicodeDecodeError:
            what = f"bytes {bad!r} at column {col}"
    return AVAFormatError(
        path, line, None, f"not valid UTF-8 text: {what}; save the file as UTF-8", whole_file=True
    )


def read_text(path):
    """The whole file as text (see :func:`decode`; ``.gz`` names decompressed)."""
    with open_binary(path) as f:
        return decode(f.read(), path)


def _nul_error(path, line, prefix, field_of):
    field = field_of(prefix)
    return AVAFormatError(
        path,
        line,
        field,
        f"contains a NUL byte (\\x00) after {prefix[-40:]!r}: not part of any value (the "
        "official script refuses the row; a CSV parser may silently cut the field there)",
    )


def check_nul(text, path, field_of):
    """AVAFormatError (line, field from ``field_of(text of the line before the NUL)``) if
    ``text`` has a NUL character."""
    i = text.find("\x00")
    if i >= 0:
        line, col = _line_at(text, i)
        raise _nul_error(path, line, text[i - col + 1 : i], field_of)


def text_source(path, field_of):
    """What pandas should read for ``path``, after the checks of the module doc.

    Args:
        path: a file name, or a text buffer (``io.StringIO``; the checker re-reads repaired
            files so).
        field_of: text of a line before a NUL byte -> the name of the field it is in.

    Returns:
        ``path`` itself (UTF-8 text, plain or ``.gz``: pandas reads it), or an ``io.StringIO``
        of the decoded text (UTF-16 files) or the buffer itself.

    Raises:
        AVAFormatError: gzip bytes under another name, UTF-16 without a mark, a NUL byte.
    """
    if hasattr(path, "read"):
        if hasattr(path, "getvalue"):
            check_nul(path.getvalue(), path, field_of)
        return path
    with open_binary(path) as f:
        head = f.read(64)
        if head.startswith(_UTF16_BOMS):
            text = decode(head + f.read(), path)
            check_nul(text, path, field_of)
            return io.StringIO(text)
        if _utf16_without_bom(head):
            raise _not_utf8(path, head, 0)
        f.seek(0)
        offset = 0
        while True:  # memchr speed; lines are counted only when a NUL is found
            block = f.read(_BLOCK)
            if not block:
                return path
            i = block.find(b"\x00")
            if i >= 0:
                break
            offset += len(block)
        nul = offset + i
    with open_binary(path) as f:
        data = f.read(nul)
    line, col = _line_at(data, nul)
    raise _nul_error(path, line, data[nul - col + 1 :].decode("utf-8", "replace"), field_of)


def not_text_error(path):
    """The AVAFormatError for a file pandas could not decode as UTF-8 (line and bytes)."""
    if hasattr(path, "read"):
        return AVAFormatError(path, None, None, "not valid UTF-8 text", whole_file=True)
    with open_binary(path) as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return _not_utf8(path, data, e.start)
    return AVAFormatError(path, None, None, "not valid UTF-8 text", whole_file=True)


def other_separator(text, num_fields=None, expected=","):
    """The separator (its name for a message) that splits ``text`` into fields whose second
    is a number (a timestamp, a video index, a label), into one of ``num_fields`` fields if
    given, else into two or more; None if there is none: ``"v;902;0.1;..."`` -> ``"';'"``.

    ``expected``: the separator the file should have (a comma for AVA's CSVs), not tried;
    the others are ``,`` ``;`` tabs ``|`` and spaces (runs of white space, tabs included).
    """
    for sep, name in ((",", "','"),) + _SEPARATORS:
        if sep == expected:
            continue
        parts = text.split() if sep == " " else text.split(sep)
        if (len(parts) in num_fields if num_fields else len(parts) >= 2) and _NUMBER.match(
            parts[1]
        ):
            return name
    return None

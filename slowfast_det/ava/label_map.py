"""The AVA label map: a protobuf text-format ``StringIntLabelMap`` (``.pbtxt``).

::

    item {
      name: "bend/bow (at the waist)"
      id: 1
    }
    item { name: "crawl" label_id: 3 }   # any layout, any field order

AVA's own full action list (``ava_action_list_v2.2.pbtxt``) names its blocks ``label``
instead of ``item``; both are read (the official script reads the ``name:`` and
``label_id:`` lines of either)::

    label {
      name: "bend/bow (at the waist)"
      label_id: 1
      label_type: PERSON_MOVEMENT
    }

The file is tokenised and parsed as text format, not line by line: fields may come in any
order and layout (one-line items, several items on a line, ``:`` before ``{``, ``<...>``
blocks, ``,`` or ``;`` after a field), strings take C escapes and adjacent strings join,
``#`` starts a comment. An item's ``name`` (else ``display_name``) and its ``id`` (or
``label_id``) are read; its other fields (``label_type: PERSON_MOVEMENT``, nested blocks,
lists) are skipped. The bytes are read as every AVA reader reads them
(:mod:`.file_text`: UTF-8 with or without a byte-order mark, UTF-16 with its mark, ``.gz``
by name); CRLF / CR line ends are accepted.

More lenient than protobuf on ids: ``id: "3"`` and ``id: 3.0`` are read as 3. Everything
else that is not valid text format, an item without a name or an id, a field given twice
in one item, an id below 1 and an id used by two items is an :class:`AVAFormatError` naming
the file, the line and the field.
"""

import re

from .errors import AVAFormatError
from .file_text import read_text

__all__ = ["read_label_map", "parse_label_map"]

_TOKEN = re.compile(
    r"""
    (?P<space>[^\S\n]+)
    |(?P<newline>\n)
    |(?P<comment>\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\[^\n])*"|'(?:[^'\\\n]|\\[^\n])*')
    |(?P<punct>[{}<>\[\]:;,])
    |(?P<word>[^\s{}<>\[\]:;,"'\#]+)
    |(?P<unterminated>["'])
    """,
    re.VERBOSE,
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CLOSE = {"{": "}", "<": ">"}
_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_ESCAPE = re.compile(
    r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.DOTALL
)
_NAME_FIELDS = ("name", "display_name")
_BLOCKS = ("item", "label")  # a StringIntLabelMap's items; AVA's full action list's labels
_ID_FIELDS = ("id", "label_id")


class _Token:
    __slots__ = ("kind", "text", "line")

    def __init__(self, kind, text, line):
        self.kind, self.text, self.line = kind, text, line

    def describe(self):
        if self.kind == "string":
            return f"the string {self.text!r}"
        return "end of file" if self.kind == "eof" else repr(self.text)


class _Field:
    """One parsed field: ``kind`` is "scalar" (``value``: list of tokens), "message"
    (``value``: list of fields) or "list"."""

    __slots__ = ("name", "line", "kind", "value")

    def __init__(self, name, line, kind, value):
        self.name, self.line, self.kind, self.value = name, line, kind, value


def _unescape(body, path, line):
    """Text-format string escapes -> str (octal / hex escapes are bytes of UTF-8)."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        out += body[pos : m.start()].encode("utf-8")
        octal, hex2, u4, u8, other = m.groups()
        if octal is not None:
            if int(octal, 8) > 255:
                raise AVAFormatError(path, line, None, f"octal escape \\{octal} is above \\377")
            out.append(int(octal, 8))
        elif hex2 is not None:
            out.append(int(hex2, 16))
        elif u4 is not None or u8 is not None:
            code = int(u4 or u8, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise AVAFormatError(
                    path, line, None, f"escape {m.group(0)!r} is not a Unicode character"
                )
            out += chr(code).encode("utf-8")
        elif other in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[other].encode("utf-8")
        else:
            raise AVAFormatError(path, line, None, f"unknown escape '{m.group(0)}' in a string")
        pos = m.end()
    out += body[pos:].encode("utf-8")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise AVAFormatError(
            path, line, None, "string is not valid UTF-8 after its escapes"
        ) from None


def _tokenize(text, path):
    tokens, line = [], 1
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "newline":
            line += 1
        elif kind == "unterminated":
            raise AVAFormatError(path, line, None, "string not closed on its line (missing quote)")
        elif kind == "string":
            tokens.append(_Token("string", _unescape(m.group()[1:-1], path, line), line))
        elif kind in ("punct", "word"):
            tokens.append(_Token(kind, m.group(), line))
    tokens.append(_Token("eof", "", line))
    return tokens


class _Parser:
    def __init__(self, tokens, path):
        self.tokens, self.path, self.pos = tokens, path, 0

    def error(self, tok, message, field=None):
        return AVAFormatError(self.path, tok.line, field, message)

    def next(self):
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def peek(self):
        return self.tokens[self.pos]

    def is_punct(self, tok, chars):
        return tok.kind == "punct" and tok.text in chars

    def fields(self, close=None, opened=None):
        """Fields up to ``close`` (or the end of the file at the top level)."""
        out = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                if close is None:
                    return out
                raise self.error(
                    tok,
                    f"block opened at line {opened.line} with {opened.text!r} is not closed "
                    f"(missing {close!r})",
                )
            if close is not None and self.is_punct(tok, close):
                return out
            if self.is_punct(tok, ",;"):
                continue
            if tok.kind != "word" or not _IDENTIFIER.match(tok.text):
                expected = f"a field name or {close!r}" if close else "a field name (item)"
                raise self.error(tok, f"expected {expected}, got {tok.describe()}")
            out.append(self.field(tok))

    def field(self, name):
        """The field named by token ``name``: ``name: value``, ``name: [...]`` or ``name {...}``."""
        colon = self.is_punct(self.peek(), ":")
        if colon:
            self.next()
        tok = self.peek()
        if colon and self.is_punct(tok, "["):
            return _Field(name.text, name.line, "list", self.list_value(name))
        if self.is_punct(tok, "{<"):
            self.next()
            return _Field(name.text, name.line, "message", self.fields(_CLOSE[tok.text], tok))
        if not colon:
            raise self.error(
                tok, f"expected ':' or '{{' after the field name, got {tok.describe()}", name.text
            )
        return _Field(name.text, name.line, "scalar", self.scalar(name))

    def scalar(self, name):
        tok = self.next()
        if tok.kind == "word":
            return [tok]
        if tok.kind != "string":
            raise self.error(tok, f"expected a value, got {tok.describe()}", name.text)
        parts = [tok]
        while self.peek().kind == "string":  # "a" "b" is "ab"
            parts.append(self.next())
        return parts

    def list_value(self, name):
        opened = self.next()
        values = []
        while True:
            tok = self.peek()
            if self.is_punct(tok, "]"):
                self.next()
                return values
            if tok.kind == "eof":
                raise self.error(
                    tok, f"list opened at line {opened.line} is not closed (missing ']')", name.text
                )
            if self.is_punct(tok, "{<"):
                self.next()
                values.append(self.fields(_CLOSE[tok.text], tok))
            else:
                values.append(self.scalar(name))
            if self.is_punct(self.peek(), ","):
                self.next()
            elif not self.is_punct(self.peek(), "]"):
                raise self.error(
                    self.peek(),
                    f"expected ',' or ']' in the list, got {self.peek().describe()}",
                    name.text,
                )


def _string_value(f, path):
    if f.kind != "scalar" or f.value[0].kind != "string":
        what = f.value[0].describe() if f.kind == "scalar" else f"a {f.kind}"
        raise AVAFormatError(path, f.line, f.name, f"expected a quoted string, got {what}")
    return "".join(t.text for t in f.value)


def _id_value(f, path):
    if f.kind != "scalar" or len(f.value) != 1:
        raise AVAFormatError(path, f.line, f.name, f"expected an integer, got a {f.kind}")
    text = f.value[0].text.strip()
    try:
        cid = int(text, 0) if text.lower().startswith(("0x", "-0x", "+0x")) else int(text)
    except ValueError:
        try:
            num = float(text)
        except ValueError:
            num = None
        if num is None or num != num or num in (float("inf"), float("-inf")) or num != int(num):
            raise AVAFormatError(path, f.line, f.name, f"not an integer: {text!r}") from None
        cid = int(num)
    if cid < 1:
        raise AVAFormatError(
            path, f.line, f.name, f"class ids start at 1 (as the evaluator requires), got {cid}"
        )
    return cid


def _item(fields, item_line, path):
    """(name, id, id line) of one item; other fields are skipped."""
    seen = {}
    for f in fields:
        key = "id" if f.name in _ID_FIELDS else f.name
        if key not in _ID_FIELDS and key not in _NAME_FIELDS:
            continue
        if key in seen:
            raise AVAFormatError(
                path,
                f.line,
                f.name,
                f"given twice in the item starting at line {item_line} "
                f"(also at line {seen[key].line})",
            )
        seen[key] = f
    if "id" not in seen:
        raise AVAFormatError(path, item_line, "id", "the item has no id (or label_id)")
    name_field = seen.get("name") or seen.get("display_name")
    if name_field is None:
        raise AVAFormatError(path, item_line, "name", "the item has no name (or display_name)")
    return _string_value(name_field, path), _id_value(seen["id"], path), seen["id"]


def parse_label_map(text, path="<label map>"):
    """Parse label-map text; returns ``(names, ids)`` as :func:`read_label_map`."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parser = _Parser(_tokenize(text, path), path)
    names, id_lines = {}, {}
    for f in parser.fields():
        if f.name not in _BLOCKS:
            raise AVAFormatError(
                path,
                f.line,
                f.name,
                "expected 'item { ... }' (or 'label { ... }'): a label map has only those",
            )
        if f.kind != "message":
            message = f"expected a '{{ ... }}' block after '{f.name}'"
            raise AVAFormatError(path, f.line, f.name, message)
        name, cid, id_field = _item(f.value, f.line, path)
        if cid in names:
            raise AVAFormatError(
                path,
                id_field.line,
                id_field.name,
                f"duplicate class id {cid} (also at line {id_lines[cid]})",
            )
        names[cid], id_lines[cid] = name, id_field.line
    if not names:
        raise AVAFormatError(path, None, None, "no classes found in the label map")
    return names, sorted(names)


def read_label_map(path):
    """Read an AVA ``.pbtxt`` label map (see the module docstring for what is accepted).

    Returns ``(names, ids)``: a dict id -> name (in file order) and the sorted list of ids
    (the evaluated classes).

    Raises:
        AVAFormatError naming the file, the line and the field.
    """
    return parse_label_map(read_text(path), path)

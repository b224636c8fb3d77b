"""Class names of a classification dataset from a label-names file (index = label).

Read by :func:`read_label_names`; the file's bytes as every AVA reader reads them
(:mod:`slowfast_det.ava.file_text`). The peers' files differ, so the common ones are read: a
JSON object ``{name: id}`` (PySlowFast's / pytorchvideo's ``kinetics_classnames.json``, names
possibly in quotes) or list of names; a CSV of ``id,name`` or ``name,id`` rows (Kinetics'
label CSV, a header row allowed) or ``id name`` rows; one name per line (MMAction2's
``label_map_k400.txt``).
"""

import csv
import json
import re

from slowfast_det.ava.errors import AVAFormatError
from slowfast_det.ava.file_text import read_text

__all__ = ["INTEGER", "read_label_names"]

#: An integer field (a label or an id).
INTEGER = re.compile(r"[+-]?\d+\Z")


def _strip_quotes(name):
    return name.strip().strip('"').strip()


def read_label_names(path):
    """Class names from a file, index = label.

    Accepted: a JSON object ``{name: id}`` (PySlowFast's / pytorchvideo's
    ``kinetics_classnames.json``) or list of names; a CSV of ``id,name`` or ``name,id`` rows
    (Kinetics' ``kinetics_400_labels.csv``, a header row allowed), or ``id name`` rows; one
    name per line (MMAction2's ``label_map_k400.txt``). Ids must be ``0 .. K-1``, each once.

    Raises:
        AVAFormatError (file, line, field) for an id that is not ``0 .. K-1`` or is repeated,
        an empty or repeated name.
    """
    text = read_text(path)
    if str(path).lower().endswith(".json") or text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise AVAFormatError(path, e.lineno, None, f"not valid JSON: {e.msg}") from None
        if isinstance(data, list):
            return _check_names(path, [(None, _strip_quotes(str(n))) for n in data])
        pairs = []
        for name, idx in data.items():
            if not isinstance(idx, int) and not INTEGER.match(str(idx)):
                raise AVAFormatError(path, None, "id", f"{name!r}: not an integer id: {idx!r}")
            pairs.append((int(idx), None, _strip_quotes(name)))
        return _names_by_id(path, pairs)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    rows = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    pairs = [_id_and_name(line) for _, line in rows]
    if len(rows) > 1 and pairs[0] is None and all(pairs[1:]):
        rows, pairs = rows[1:], pairs[1:]  # a header row ("id,name")
    if rows and all(pairs):
        return _names_by_id(path, [(i, n, name) for (n, _), (i, name) in zip(rows, pairs)])
    paired = [n for (n, _), p in zip(rows, pairs) if p]
    if len(paired) * 2 > len(rows):  # mostly id/name rows: the others are broken
        n = next(n for (n, _), p in zip(rows, pairs) if not p)
        raise AVAFormatError(
            path, n, None, f"expected an 'id,name' or 'name,id' row like line {paired[0]}"
        )
    return _check_names(path, [(n, _strip_quotes(line)) for n, line in rows])


def _id_and_name(line):
    """(id, name) of an ``id,name`` / ``name,id`` / ``id name`` row, else None."""
    fields = next(csv.reader([line])) if "," in line else line.strip().split(None, 1)
    fields = [f.strip() for f in fields]
    ints = [i for i, f in enumerate(fields) if INTEGER.match(f)]
    if len(fields) != 2 or len(ints) != 1:
        return None
    return int(fields[ints[0]]), _strip_quotes(fields[1 - ints[0]])


def _names_by_id(path, pairs):
    """(id, line, name) triples -> names in id order; ids must be 0..K-1, each once."""
    by_id = {}
    for idx, line, name in pairs:
        if idx in by_id:
            raise AVAFormatError(path, line, "id", f"id {idx} repeated ({by_id[idx][1]!r})")
        by_id[idx] = (line, name)
    k = len(by_id)
    for idx, (line, _) in sorted(by_id.items()):
        if not 0 <= idx < k:
            first = min(by_id)
            hint = " (ids start at 0: labels are 0..K-1)" if first == 1 else ""
            raise AVAFormatError(path, line, "id", f"id {idx} outside 0..{k - 1}{hint}")
    return _check_names(path, [by_id[i] for i in range(k)])


def _check_names(path, numbered):
    """(line, name) in label order -> names; an empty or repeated name is an error, and so is
    a file without names."""
    if not numbered:
        raise AVAFormatError(path, None, None, "no class names in the file", whole_file=True)
    seen = {}
    for line, name in numbered:
        if not name:
            raise AVAFormatError(path, line, "name", "empty class name")
        if name in seen:
            where = f" (line {seen[name]})" if seen[name] else ""
            raise AVAFormatError(path, line, "name", f"{name!r} repeated{where}")
        seen[name] = line
    return [name for _, name in numbered]

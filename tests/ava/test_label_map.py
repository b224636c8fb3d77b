"""The label-map text-proto parser: layouts, field orders, encodings and errors with lines."""

import pytest

from slowfast_det.ava.io import AVAFormatError, read_label_map
from slowfast_det.ava.label_map import parse_label_map

AVA_NAMES = [f"action {i}" for i in range(1, 61)]


def _write(tmp_path, data, name="lm.pbtxt"):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(p)


@pytest.mark.parametrize(
    "text",
    [
        'item {\n  name: "walk"\n  id: 7\n}\n',
        'item {\n  id: 7\n  name: "walk"\n}\n',
        'item {\n  label_id: 7\n  name: "walk"\n}\n',
        'item {\n  name: "walk"\n  label_type: PERSON_MOVEMENT\n  id: 7\n}\n',
        'item { name: "walk"\n  id: 7 }\n',
        'item {\n  name: "walk" id: 7\n}\n',
        'item { id: 7 name: "walk" }',
        'item: { name: "walk", id: 7; }',
        "item < name: 'walk' id: 7 >",
        'item {\n  display_name: "walk"\n  id: 7\n}\n',
        'item { name: "walk" display_name: "Walking" id: 7 }',
        (
            'item { keypoints { id: 99 label: "x" } name: "walk" '
            'tags: [1, "two", {id: 3}] id: 7 frequency: FREQUENT }'
        ),
    ],
    ids=[
        "name-id",
        "id-name",
        "label_id",
        "enum-field-between",
        "name-shares-item-line",
        "name-id-one-line",
        "one-line-id-first",
        "colon-and-separators",
        "angle-brackets-single-quotes",
        "display_name",
        "name-wins-over-display_name",
        "nested-and-list-fields-skipped",
    ],
)
def test_any_field_order_and_layout(text):
    assert parse_label_map(text, "lm.pbtxt") == ({7: "walk"}, [7])


def test_several_items_per_line_and_comments():
    text = (
        "# AVA v2.2, evaluated classes\n"
        'item { name: "a" id: 3 } item { name: "b # not a comment" id: 1 }  # two items\n'
        'item {  # a block\n  name: "c"  # the name\n  id: 2\n}\n'
    )
    names, ids = parse_label_map(text, "lm.pbtxt")
    assert names == {3: "a", 1: "b # not a comment", 2: "c"} and ids == [1, 2, 3]
    assert list(names) == [3, 1, 2]  # file order


def test_sixty_classes_one_line_per_item_all_come_back(tmp_path):
    one_line = "".join(f'item {{ name: "{n}" id: {i} }}\n' for i, n in enumerate(AVA_NAMES, 1))
    multi_line = "".join(
        f'item {{\n  name: "{n}"\n  id: {i}\n}}\n' for i, n in enumerate(AVA_NAMES, 1)
    )
    names, ids = read_label_map(_write(tmp_path, one_line))
    assert ids == list(range(1, 61)) and len(names) == 60
    assert (names, ids) == read_label_map(_write(tmp_path, multi_line, "multi.pbtxt"))


def test_string_escapes_and_adjacent_strings():
    text = (
        r'item { name: "bend/bow \"(at the waist)\"\t\\ caf\303\251 \u00e9\x21" " and more" id: 1 }'
    )
    assert parse_label_map(text)[0] == {1: 'bend/bow "(at the waist)"\t\\ café é! and more'}


@pytest.mark.parametrize(
    "data",
    [
        b'\xef\xbb\xbfitem {\n  name: "walk"\n  id: 7\n}\n',
        b'item {\r\n  name: "walk"\r\n  id: 7\r\n}\r\n',
        b'\xef\xbb\xbfitem {\r\n  name: "walk"\r\n  id: 7\r\n}\r\n',
        b'item {\r  name: "walk"\r  id: 7\r}\r',
        '\ufeffitem {\r\n  name: "walk"\r\n  id: 7\r\n}\r\n'.encode("utf-16"),
    ],
    ids=["utf8-bom", "crlf", "bom-and-crlf", "cr", "utf16-bom"],
)
def test_bom_and_line_ends(tmp_path, data):
    assert read_label_map(_write(tmp_path, data)) == ({7: "walk"}, [7])


def test_lenient_ids():
    """Beyond protobuf (and the official script, which calls int() on the text): quoted and
    integral float ids."""
    assert parse_label_map(
        'item { name: "a" id: "3" } item { name: "b" id: 8.0 } item { name: "c" id: 0x0A }'
    )[1] == [3, 8, 10]


def test_line_numbers_after_bom_and_crlf(tmp_path):
    p = _write(tmp_path, b'\xef\xbb\xbfitem {\r\n  name: "walk"\r\n  id: seven\r\n}\r\n')
    with pytest.raises(AVAFormatError, match=r"lm.pbtxt:3: field 'id' not an integer: 'seven'"):
        read_label_map(p)


@pytest.mark.parametrize(
    "text,match",
    [
        (
            'item {\n  name: "a"\n  id: 3\n',
            r"lm.pbtxt:4: block opened at line 1 with '\{' is not closed \(missing '\}'\)",
        ),
        ('item {\n  name: "a"\n  id: one\n}\n', r"lm.pbtxt:3: field 'id' not an integer: 'one'"),
        ('item {\n  name: "a"\n  id: 2.5\n}\n', r"lm.pbtxt:3: field 'id' not an integer: '2.5'"),
        ('item {\n  name: "a"\n  id: 0\n}\n', r"lm.pbtxt:3: field 'id' class ids start at 1"),
        ('item {\n  name: "a"\n}\n', r"lm.pbtxt:1: field 'id' the item has no id \(or label_id\)"),
        ("\n\nitem {\n  id: 3\n}\n", r"lm.pbtxt:3: field 'name' the item has no name"),
        ('item {\n  name: "a\n  id: 3\n}\n', r"lm.pbtxt:2: string not closed on its line"),
        (
            'item {\n  name "a"\n  id: 3\n}\n',
            r"lm.pbtxt:2: field 'name' expected ':' or '\{' after the field name,"
            r" got the string 'a'",
        ),
        (
            "item {\n  name: a\n  id: 3\n}\n",
            r"lm.pbtxt:2: field 'name' expected a quoted string, got 'a'",
        ),
        ('item {\n  name: "a"\n  id:\n}\n', r"lm.pbtxt:4: field 'id' expected a value, got '\}'"),
        (
            'item {\n  name: "a"\n  id: 3\n  label_id: 4\n}\n',
            r"lm.pbtxt:4: field 'label_id' given twice in the item starting at line 1"
            r" \(also at line 3\)",
        ),
        ('item {\n  name: "a\\q"\n  id: 3\n}\n', r"lm.pbtxt:2: unknown escape '\\q'"),
        ('item { name: "a" id: 3 }\n}\n', r"lm.pbtxt:2: expected a field name \(item\), got '\}'"),
        ('entry { name: "a" id: 3 }\n', r"lm.pbtxt:1: field 'entry' expected 'item \{ ... \}'"),
        ("item: 3\n", r"lm.pbtxt:1: field 'item' expected a '\{ ... \}' block"),
        ("# only a comment\n", r"lm.pbtxt: no classes found"),
    ],
    ids=[
        "unclosed",
        "id-word",
        "id-fraction",
        "id-zero",
        "no-id",
        "no-name",
        "unclosed-string",
        "no-colon",
        "unquoted-name",
        "no-value",
        "id-twice",
        "bad-escape",
        "stray-brace",
        "not-item",
        "item-scalar",
        "empty",
    ],
)
def test_errors_name_file_line_and_field(tmp_path, text, match):
    with pytest.raises(AVAFormatError, match=match):
        read_label_map(_write(tmp_path, text))


def test_duplicate_id_names_both_lines(tmp_path):
    text = 'item { name: "a" id: 3 }\nitem {\n  name: "b"\n  label_id: 3\n}\n'
    with pytest.raises(
        AVAFormatError,
        match=r"lm.pbtxt:4: field 'label_id' duplicate class id 3 \(also at line 1\)",
    ):
        read_label_map(_write(tmp_path, text))


def test_not_utf8_names_the_line(tmp_path):
    p = _write(tmp_path, b'item {\n  name: "caf\xe9"\n  id: 3\n}\n')
    with pytest.raises(AVAFormatError, match=r"lm.pbtxt:2: not valid UTF-8 text"):
        read_label_map(p)


def test_evaluator_reads_a_notepad_label_map(tmp_path):
    """BOM + CRLF + one-line items: the official script would find no class in this file."""
    from slowfast_det.ava.evaluate import evaluate_files

    lm = _write(tmp_path, b'\xef\xbb\xbfitem { name: "a" id: 1 }\r\nitem { id: 2 name: "b" }\r\n')
    gt = _write(tmp_path, "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0902,0.5,0.5,0.9,0.9,2,0\n", "gt.csv")
    det = _write(
        tmp_path, "v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.1,0.1,0.5,0.5,2,0.8\n", "det.csv"
    )
    result, names = evaluate_files(lm, gt, det)
    assert names == {1: "a", 2: "b"} and result.per_class == {1: 1.0, 2: 0.0}

"""AVA's file formats and the official frame-mAP, with numpy and pandas only.

This layer imports neither torch nor Detectron2, so that ``tools/eval_ava.py`` and other
file-level tools start in a fraction of a second:

- ``errors``: :class:`AVAFormatError` (file, line, field) and the video-id rules;
- ``timestamps``: AVA's keyframe times (parsing, normalising, formatting, frame positions);
- ``label_map``: label-map ``.pbtxt`` files;
- ``file_text``: how every reader gets text from bytes (encodings, gzip, NUL bytes);
- ``io``: every reader in one import path (re-exports): box CSVs (``box_csv`` reads them,
  ``box_rows`` checks and converts their rows), excluded timestamps (``exclusions``), frame
  lists (``frame_list``);
- ``checks``: the value checks shared by the loader, the checker and the metric;
- ``metric``, ``box_arrays``, ``array_ops``, ``matching``, ``official_order``, ``result``: the
  official frame-mAP; ``evaluate``: the frame-mAP of the official files;
- ``person_boxes``: person-box AP of proposals against the ground truth;
- ``files``: detection CSV and JSON outputs;
- ``plots``: PNG plots of a result (matplotlib, imported only by this module).
"""

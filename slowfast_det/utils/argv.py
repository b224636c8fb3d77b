"""Command-line values that begin with '-' (AVA video ids such as ``-5KQ66BBWC4``).

argparse takes a token that begins with '-' for an option, so ``--video-id -5KQ66BBWC4``
fails with "expected one argument". ``--video-id=-5KQ66BBWC4`` always works; the tools also
pass their argv through :func:`attach_dash_values` first, which rewrites the plain form into
that one.
"""

__all__ = ["attach_dash_values"]


def _ends_list(token):
    return token == "--" or token.startswith("--") or token in ("-h",)


def attach_dash_values(argv, single=(), multiple=()):
    """Rewrite ``argv`` so that values beginning with '-' reach their options.

    Args:
        argv: the argument list (without the program name).
        single: options that take one value: ``--video-id -5KQ`` becomes ``--video-id=-5KQ``.
        multiple: list options (declare them with ``action="extend", nargs="+"``): every
            following token up to the next ``--option``, ``-h`` or ``--`` is a value, so
            ``--only a -b --workers 2`` becomes ``--only=a --only=-b --workers 2``.
    Returns:
        a new list; tokens of other options are unchanged.
    """
    out, i, argv = [], 0, list(argv)
    while i < len(argv):
        tok = argv[i]
        if tok == "--":  # everything after it is positional
            out.extend(argv[i:])
            break
        if tok in single and i + 1 < len(argv):
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
            continue
        if tok in multiple:
            j = i + 1
            while j < len(argv) and not _ends_list(argv[j]):
                out.append(f"{tok}={argv[j]}")
                j += 1
            if j == i + 1:
                out.append(tok)  # no value: let argparse report it
            i = j
            continue
        out.append(tok)
        i += 1
    return out

"""``classes.txt``: one class name per line, line k (from 1) naming mask id k - 1, parsed strictly.

Accepted: UTF-8 with or without a byte-order mark (the BOM is dropped, never part of the first name),
``\\n`` or ``\\r\\n`` line ends, spaces around a name (stripped), a trailing newline and blank lines after the
last name. Refused, as one line naming the file and the line: bytes that are not UTF-8, a blank line
before the last name (every later name would be paired with the wrong id), a name given twice (per-class
metrics are keyed by name, so one class's IoU would overwrite the other's), and a file with no name.
"""

from __future__ import annotations

from pathlib import Path

from segfw.errors import BadSampleError

BOM = "\ufeff"


def parse_class_names(text: str, source: str = "classes.txt") -> tuple[str, ...]:
    """The class names of a ``classes.txt`` text (see the module docstring); ``source`` names it in errors."""
    lines = text.removeprefix(BOM).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    names = [line.strip() for line in lines]
    while names and not names[-1]:  # a trailing newline and blank lines after the last name are fine
        names.pop()
    if not names:
        raise BadSampleError(
            f"{source}: holds no class names; write one name per line, line k naming the class of mask id k-1"
        )
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name:
            raise BadSampleError(
                f"{source}:{number}: blank line between class names (line k names mask id k-1, so every later name "
                "would pair with the wrong id); remove the line or write the class's name there"
            )
        if name in seen:
            raise BadSampleError(
                f"{source}:{number}: class name '{name}' repeats line {seen[name]} (per-class metrics are keyed by "
                "name, one would overwrite the other); give every class its own name"
            )
        seen[name] = number
    return tuple(names)


def read_class_names(path: Path) -> tuple[str, ...]:
    """The class names in the file ``path``; a missing, unreadable or non-UTF-8 file is one BadSampleError line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadSampleError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadSampleError(
            f"{path}:{line}: not UTF-8 (byte {data[error.start]:#04x} at offset {error.start}); save the file as "
            "UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None
    return parse_class_names(text, str(path))

"""Text that may be stored: the one check every imported or configured text field passes.

Control characters (C0, DEL, C1), unpaired surrogates, line and paragraph separators and the
bidi controls that reorder or hide text (Trojan Source) are refused, with the reason and the
code point, so one poisoned field fails its own row with a clear message.
"""

from __future__ import annotations

import unicodedata

# Format characters that reorder or hide text (Trojan Source): bidi embeddings, overrides, isolates.
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cs": "an unpaired surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as import text (None: it can)."""
    if value.isascii() and value.isprintable():
        return None
    for char in value:
        what = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if what is None and char in _BIDI:
            what = "a bidi control character"
        if what is not None:
            return f"contains {what} (U+{ord(char):04X})"
    return None

"""Composite keys, laid out as every Fabric shim does: NUL, type, NUL, then each attribute and a NUL."""

from __future__ import annotations

from collections.abc import Sequence

COMPOSITE_KEY_NAMESPACE = "\x00"
MIN_UNICODE_RUNE = "\x00"
MAX_UNICODE_RUNE = "\U0010ffff"
# A range query from "" would also walk the composite keys (they sort first); the other shims
# start such a query at U+0001 instead, so it covers simple keys only.
EMPTY_KEY_SUBSTITUTE = "\x01"


def _check_part(part: object) -> None:
    if not isinstance(part, str) or not part:
        raise ValueError("object type or attribute not a non-zero length string")
    # Either rune would make the key ambiguous or break prefix (partial key) queries.
    if MIN_UNICODE_RUNE in part or MAX_UNICODE_RUNE in part:
        raise ValueError(f"{part!r}: U+0000 and U+10FFFF are not allowed in a composite key part")


def create_composite_key(object_type: str, attributes: Sequence[str]) -> str:
    _check_part(object_type)
    if not isinstance(attributes, Sequence):
        raise ValueError("attributes must be an array")
    for attribute in attributes:
        _check_part(attribute)
    return COMPOSITE_KEY_NAMESPACE + "".join(part + MIN_UNICODE_RUNE for part in [object_type, *attributes])


def split_composite_key(composite_key: str) -> tuple[str | None, list[str]]:
    """(object type, attributes); (None, []) for a key that is not composite."""
    if not composite_key or len(composite_key) < 2 or composite_key[0] != COMPOSITE_KEY_NAMESPACE:
        return None, []
    parts = composite_key[1:].split(MIN_UNICODE_RUNE)
    if parts and parts[-1] == "":
        parts.pop()
    if not parts:
        return None, []
    return parts[0], parts[1:]


def partial_key_range(object_type: str, attributes: Sequence[str]) -> tuple[str, str]:
    prefix = create_composite_key(object_type, attributes)
    return prefix, prefix + MAX_UNICODE_RUNE

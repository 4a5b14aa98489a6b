"""Hypothesis strategies for the fuzz suites: JSON values, and arguments drawn from an action's JSON schema.

The schema reader covers what pydantic emits for the action argument models (`$ref`/`$defs`, `anyOf`,
`enum`, `const`, the scalar types with their bounds, arrays with `items`/`prefixItems`, objects with
`properties`/`required`); anything else falls back to arbitrary JSON, which is fuzzing too.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SCALARS: st.SearchStrategy[Any] = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _resolve(defs[ref.rsplit("/", 1)[-1]], defs)
    return schema


def _number(schema: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if integer:
        low = None if low is None else int(low) + (1 if "exclusiveMinimum" in schema else 0)
        high = None if high is None else int(high) - (1 if "exclusiveMaximum" in schema else 0)
        return st.integers(low, high)
    return st.floats(low, high, exclude_min="exclusiveMinimum" in schema, exclude_max="exclusiveMaximum" in schema,
                     allow_nan=False, allow_infinity=False)


def _object(schema: dict[str, Any], defs: dict[str, Any], words: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fields = {name: from_schema(sub, defs, words) for name, sub in properties.items()}
    must = st.fixed_dictionaries({name: fields[name] for name in properties if name in required},
                                 optional={name: fields[name] for name in properties if name not in required})
    if properties or schema.get("additionalProperties") is False:
        return must
    return st.dictionaries(st.text(max_size=10), JSON, max_size=4)


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None,
                words: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """Values valid for `schema` as pydantic writes them (mostly: the device still judges them).

    `words` are strings worth trying wherever a free string goes (device ids, media ids): random text
    alone would almost never name something that exists, and the paths behind a hit go untested.
    """
    defs = {**(defs or {}), **schema.get("$defs", {})}
    schema = _resolve(schema, defs)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(sub, defs, words) for sub in schema[key]])
    kind = schema.get("type")
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        text = st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 30), 30))
        return st.sampled_from(words) | text if words else text
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        low, high = schema.get("minItems", 0), min(schema.get("maxItems", 5), 5)
        if "prefixItems" in schema:
            return st.tuples(*(from_schema(sub, defs, words) for sub in schema["prefixItems"])).map(list)
        return st.lists(from_schema(schema.get("items", {}), defs, words), min_size=low, max_size=max(low, high))
    if kind == "object":
        return _object(schema, defs, words)
    return JSON

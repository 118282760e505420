#!/usr/bin/env python3
"""Check a FollowTheMoney export with the followthemoney library itself.

Usage: check-ftm.py FILE   (one JSON entity per line; `-` reads standard input)

Every line must be an entity {"id", "schema", "properties"} of a concrete schema
of the model, with only that schema's properties, every required property set,
and every value valid for its property's type: the library's own cleaning
(model.get_proxy(data, cleaned=False)) must keep it unchanged, and
Schema.validate must pass. Ids are unique, and every entity reference (owner,
asset, director, organization, ...) points at an entity of the same file whose
schema is within the property's range. Prints a summary of the schemas and exits
1 on the first errors (at most 20 listed).

scripts/install-tools.sh installs followthemoney into
~/.cache/gleaner/tools/ftm; run this script with that venv's python.
"""

import json
import sys
from collections import Counter

from followthemoney import model
from followthemoney.exc import InvalidData
from followthemoney.types import registry

MAX_ERRORS = 20


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    stream = sys.stdin if sys.argv[1] == "-" else open(sys.argv[1], encoding="utf-8")
    errors: list[str] = []
    schemas: dict[str, str] = {}
    references: list[tuple[int, str, str, str]] = []
    counts: Counter[str] = Counter()

    def error(line: int, message: str) -> None:
        errors.append(f"line {line}: {message}")

    for number, text in enumerate(stream, start=1):
        if len(errors) >= MAX_ERRORS:
            break
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            error(number, f"not JSON: {e}")
            continue
        if not isinstance(data, dict) or set(data) != {"id", "schema", "properties"}:
            error(number, "not an object of exactly id, schema and properties")
            continue
        entity_id, schema_name, properties = data["id"], data["schema"], data["properties"]
        if not isinstance(entity_id, str) or not entity_id:
            error(number, "id is not a non-empty string")
            continue
        schema = model.get(schema_name) if isinstance(schema_name, str) else None
        if schema is None or schema.abstract:
            error(number, f"{entity_id}: no concrete schema {schema_name!r}")
            continue
        if entity_id in schemas:
            error(number, f"{entity_id}: id used twice")
            continue
        schemas[entity_id] = schema.name
        counts[schema.name] += 1
        if not isinstance(properties, dict) or not all(
            isinstance(v, list) and v and all(isinstance(s, str) for s in v)
            for v in properties.values()
        ):
            error(number, f"{entity_id}: properties are not lists of strings")
            continue
        for name in properties:
            if name not in schema.properties:
                error(number, f"{entity_id}: {schema.name} has no property {name!r}")
            elif schema.properties[name].stub:
                error(number, f"{entity_id}: {name!r} is a reverse (stub) property")
        for name in schema.required:
            if name not in properties:
                error(number, f"{entity_id}: required property {name!r} missing")
        try:
            schema.validate(data)
        except InvalidData as e:
            error(number, f"{entity_id}: {e} {getattr(e, 'errors', '')}")
            continue
        proxy = model.get_proxy(data, cleaned=False)
        if proxy.id != entity_id:
            error(number, f"{entity_id}: the library reads the id as {proxy.id!r}")
        for name, values in properties.items():
            prop = schema.properties.get(name)
            if prop is None:
                continue
            kept = proxy.get(prop)
            if sorted(set(kept)) != sorted(set(values)):
                error(number, f"{entity_id}: {name} {values!r} cleans to {kept!r}")
            if prop.type == registry.entity:
                for value in values:
                    references.append((number, entity_id, name, value))

    for number, entity_id, name, target in references:
        if len(errors) >= MAX_ERRORS:
            break
        schema = model.get(schemas[entity_id])
        prop = schema.properties[name]
        target_schema = schemas.get(target)
        if target_schema is None:
            error(number, f"{entity_id}: {name} points at {target!r}, not in the file")
        elif prop.range is not None and not model.get(target_schema).is_a(prop.range):
            error(
                number,
                f"{entity_id}: {name} points at a {target_schema}, not a {prop.range.name}",
            )

    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"{sum(counts.values())} entities ({summary}), {len(references)} references")
    if errors:
        for e in errors[:MAX_ERRORS]:
            print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

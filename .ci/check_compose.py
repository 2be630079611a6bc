"""Check compose files as `docker compose config` would, where docker compose is not installed:
the variables interpolated as the Compose Specification says (`${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+value}`, `$$`), required ones
refused when unset, then each file checked against the specification's JSON schema
(.ci/compose-spec.json: schema/compose-spec.json of github.com/compose-spec/compose-spec at
170098ba07d9f53c383a41bfd4c5166b0a4529a6, Apache License 2.0), with `!reset` and `!override`
read as their values.

    python .ci/check_compose.py FILE... [--require NAME]...

Each --require NAME must make the files refuse to load without it. Exits 1 with one line per fault.
"""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA = Path(__file__).with_name("compose-spec.json")
VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<operator>:?[-?+])(?P<argument>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class Unset(Exception):
    """A required variable is unset: the message says which and why."""


class Loader(yaml.SafeLoader):
    """YAML with compose's merge tags, whose values stand as written."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


for tag in ("!reset", "!override"):
    Loader.add_constructor(tag, _tagged)


def interpolate(value: Any, environment: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        operator, argument = match["operator"] or "", match["argument"] or ""
        given = environment.get(name)
        present = given is not None and (given != "" or not operator.startswith(":"))
        if operator.endswith("-"):
            return given if present and given is not None else argument
        if operator.endswith("?"):
            if not present or given is None:
                raise Unset(f"{name}: {argument or 'required'}")
            return given
        if operator.endswith("+"):
            return argument if present else ""
        return given or ""

    return VARIABLE.sub(substitute, value)


def check(path: Path, environment: dict[str, str]) -> list[str]:
    document = yaml.load(path.read_text(), Loader=Loader)
    try:
        resolved = interpolate(document, environment)
    except Unset as unset:
        return [f"{path}: {unset}"]
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [
        f"{path}: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(resolved)
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--require", action="append", default=[])
    arguments = parser.parse_args(argv)
    # Every variable the files name, set, so that only the schema and --require decide.
    names = {
        match["braced"] or match["bare"]
        for path in arguments.files
        for match in VARIABLE.finditer(path.read_text())
        if not match["escaped"]
    }
    environment = {name: f"value-of-{name}" for name in names}
    faults = [fault for path in arguments.files for fault in check(path, environment)]
    for name in arguments.require:
        without = {key: value for key, value in environment.items() if key != name}
        if not any(check(path, without) for path in arguments.files):
            faults.append(f"{name}: the files load without it")
    for fault in faults:
        print(fault, file=sys.stderr)
    if not faults:
        print(f"compose files valid: {', '.join(map(str, arguments.files))}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

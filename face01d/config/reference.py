"""The configuration reference (docs/config.md), generated from the schema.

``python -m face01d.config.reference`` rewrites docs/config.md from the
pydantic models in face01d/config/models.py: every section, key, type,
default and constraint, with the comment written beside (or just above) the
field in models.py as its description. tests/docs/test_config_reference.py
fails when the committed file is not what this produces, so the reference
cannot drift from what the daemon accepts.

    python -m face01d.config.reference            # write docs/config.md
    python -m face01d.config.reference --check    # exit 1 if it is out of date
    python -m face01d.config.reference --stdout   # print it
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import sys
import tokenize
import types
from enum import Enum
from functools import cache
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from face01d.config import models

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "config.md"
GENERATOR = "python -m face01d.config.reference"


# --- comments beside the fields -------------------------------------------------------------------------------


@cache
def field_comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from the class's source: the ``# ...`` on the field's last line, else the block above."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    source = inspect.cleandoc("\n" + source) if source[:1].isspace() else source
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    found: dict[str, str] = {}
    factories = default_factories(cls)
    [class_def] = [node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]
    for node in class_def.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        beside = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        above: list[str] = []
        line = node.lineno - 1
        while line >= 1 and line in comments and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        text = " ".join(beside) or " ".join(above)
        if node.target.id in factories:
            text = f"default: `{factories[node.target.id]}`" + (f"; {text}" if text else "")
        if text:
            found[node.target.id] = text
    return found


@cache
def default_factories(cls: type) -> dict[str, str]:
    """``{field: expression}`` for ``Field(default_factory=lambda: EXPRESSION)`` in the class's source."""
    try:
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(node.value, ast.Call):
            for keyword in node.value.keywords:
                if keyword.arg == "default_factory":
                    value = keyword.value.body if isinstance(keyword.value, ast.Lambda) else keyword.value
                    found[node.target.id] = ast.unparse(value)
    return found


def class_doc(cls: type) -> str:
    doc = cls.__dict__.get("__doc__")
    return " ".join(inspect.cleandoc(doc).split()) if doc else ""


# --- types, constraints, defaults -----------------------------------------------------------------------------

_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def constraints(metadata: list[Any]) -> list[str]:
    """``Field(ge=…, le=…, min_length=…)`` and friends, as ``≥ 1``, ``≤ 30``, ``length 1-64``."""
    out: list[str] = []
    lengths: dict[str, int] = {}
    for item in _flat(metadata):
        for attr, symbol in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None:
                out.append(f"{symbol} {value!r}")
        for attr in ("min_length", "max_length"):
            if getattr(item, attr, None) is not None:
                lengths[attr] = getattr(item, attr)
        if isinstance(item, annotated_types.Predicate):
            out.append(f"must satisfy {item.func.__name__}")
    if lengths:
        out.append(f"length {lengths.get('min_length', 0)}-{lengths.get('max_length', '∞')}")
    return out


def _flat(metadata: list[Any]) -> list[Any]:
    return [inner for item in metadata
            for inner in (_flat(item.metadata) if isinstance(item, FieldInfo) else [item])]


def type_name(annotation: Any) -> str:
    """A reader's name for an annotation: ``int (≥ 1, ≤ 30) | "auto"``, ``"short" | "full"``, ``path``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        bounds = constraints(metadata)
        return type_name(inner) + (f" ({', '.join(bounds)})" if bounds else "")
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is Literal:
        return " | ".join(toml(arg) for arg in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation)
        return f"list of {type_name(item)}"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return " | ".join(toml(member.value) for member in annotation)
        if issubclass(annotation, BaseModel):
            return f"table ({annotation.__name__})"
        if issubclass(annotation, SecretStr):
            return "string (secret, masked in `config check`)"
        if issubclass(annotation, PurePath):
            return "path (relative: to the config file)"
        return {bool: "boolean", int: "integer", float: "float", str: "string"}.get(annotation, annotation.__name__)
    return str(annotation)


def toml(value: Any) -> str:
    """A default as it would be written in config.toml."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    return repr(value)


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "computed at start"
    if field.default is PydanticUndefined:
        return "**required**"
    if field.default is None:
        return "unset"
    if isinstance(field.default, BaseModel):
        return "(table)"
    return f"`{toml(field.default)}`"


def is_optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


# --- the walk -------------------------------------------------------------------------------------------------


def model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The section model a field holds, and whether it is a list of them (``[[cameras]]``)."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def sections(root: type[BaseModel] = models.Config, prefix: str = "") -> list[tuple[str, type[BaseModel], bool]]:
    """``(dotted name, model, is an array of tables)`` for every table under ``root``, in schema order."""
    found: list[tuple[str, type[BaseModel], bool]] = []
    for name, field in root.model_fields.items():
        model, is_list = model_of(field.annotation)
        if model is not None:
            dotted = f"{prefix}{name}"
            found.append((dotted, model, is_list))
            found += sections(model, dotted + ".")
    return found


def schema_keys(root: type[BaseModel] = models.Config) -> dict[str, list[str]]:
    """``{section: [key, ...]}``: the keys (not sub-tables) each table accepts."""
    return {
        name: [key for key, field in model.model_fields.items() if model_of(field.annotation)[0] is None]
        for name, model, _ in sections(root)
    }


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(root: type[BaseModel] = models.Config) -> str:
    out = [
        "# Configuration reference",
        "",
        f"<!-- Generated by `{GENERATOR}` from face01d/config/models.py. Do not edit: change the models",
        "     (the comment beside a field is its description here), then run the generator. -->",
        "",
        "Every key of `config.toml`, with its type, default and allowed values, as",
        "face01d/config/models.py validates them. Unknown keys are errors. Any key of a",
        "table (not of `[[cameras]]`) can be overridden from the environment as",
        "`FACE01D_<SECTION>__<KEY>`, e.g. `FACE01D_MQTT__PASSWORD`. Relative paths are",
        "relative to the config file. `face01d config check -c config.toml` prints the",
        "effective configuration, secrets masked.",
        "",
    ]
    for name, model, is_list in sections(root):
        out += [f"## `[[{name}]]`" if is_list else f"## `[{name}]`", ""]
        doc = class_doc(model)
        if is_list:
            out += [f"An array of tables: one `[[{name}]]` per entry ({model.__name__}).", ""]
        if doc and not doc.startswith("Base of every"):
            out += [doc, ""]
        comments = field_comments(model)
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        for key, field in model.model_fields.items():
            if model_of(field.annotation)[0] is not None:
                continue
            kind = type_name(field.annotation)
            bounds = constraints(field.metadata)
            if bounds:
                kind += f" ({', '.join(bounds)})"
            description = comments.get(key) or field.description or ""
            if is_optional(field.annotation) and field.default is None and not description:
                description = "optional"
            out.append(f"| `{key}` | {cell(kind)} | {cell(default_text(field))} | {cell(description)} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=GENERATOR, description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="default: docs/config.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is not what would be written")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date: run `{GENERATOR}`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

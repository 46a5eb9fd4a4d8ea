"""YAML files an admin edits, checked against a pydantic model, every problem as
``path/to/file.yaml:LINE:COL: message`` (1-based), all problems of a file in one pass.

The file is *composed* (not loaded) with PyYAML so every key and value keeps its position; the
plain data handed to pydantic is built from those nodes, and each validation error's location is
walked back through them. Mapping keys are always taken as text (``no:`` stays ``"no"``, ``123:``
stays ``"123"``), duplicate keys are errors, and unknown keys get a did-you-mean.

The same machinery serves any root model: ``load_yaml_model(path, Model)``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hub.mapping.errors import MappingFileError, show_value

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'fields'?)`` or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


def _position(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass(frozen=True, slots=True)
class Problem:
    position: Position
    message: str


@dataclass(frozen=True)
class YamlDocument:
    """A composed YAML file: its plain data and the nodes it came from."""

    path: Path
    root: yaml.Node | None
    data: Any
    problems: tuple[Problem, ...] = field(default=())

    # -- positions ---------------------------------------------------------------------------

    def locate(self, loc: Loc, *, key: bool = False) -> tuple[Position, Loc]:
        """The position of the node at ``loc`` (its key's position when ``key``), and the part of
        ``loc`` that exists in the file. A missing key resolves to its parent mapping."""
        if self.root is None:
            return Position(1, 1), ()
        node: yaml.Node = self.root
        key_node: yaml.Node | None = None
        found: list[str | int] = []
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            key_node, node = child
            found.append(part)
        if key and key_node is not None and len(found) == len(loc):
            return _position(key_node), tuple(found)
        return _position(node), tuple(found)

    def error(self, loc: Loc, message: str, *, key: bool = False) -> str:
        position, _ = self.locate(loc, key=key)
        return self.line(position, message)

    def line(self, position: Position, message: str) -> str:
        return f"{self.path}:{position.line}:{position.column}: {message}"


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node, value_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item
    return None


# -- parsing ---------------------------------------------------------------------------------


class _Builder:
    """Plain Python data from composed nodes, collecting structural problems on the way."""

    def __init__(self) -> None:
        self._loader = yaml.SafeLoader("")
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        if depth > 100:
            self.problems.append(Problem(_position(node), "nesting too deep (recursive alias?)"))
            return None
        if isinstance(node, yaml.MappingNode):
            self._loader.flatten_mapping(node)  # apply `<<:` merge keys
            result: dict[str, Any] = {}
            first_seen: dict[str, yaml.Node] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(Problem(_position(key_node), "a key must be plain text"))
                    continue
                key = key_node.value
                if key in first_seen:
                    first = _position(first_seen[key])
                    self.problems.append(
                        Problem(
                            _position(key_node),
                            f"duplicate key {key!r} (first given at line {first.line})",
                        )
                    )
                    continue
                first_seen[key] = key_node
                result[key] = self.build(value_node, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, depth + 1) for item in node.value]
        return self._loader.construct_object(node, deep=True)


def parse_yaml(path: Path, text: str | None = None) -> YamlDocument:
    """Compose ``path`` (or ``text`` in its name). YAML syntax errors become problems too."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return YamlDocument(path, None, None, (Problem(Position(1, 1), f"cannot read the file: {exc}"),))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        return YamlDocument(path, None, None, (Problem(position, f"invalid YAML: {what}"),))
    except yaml.YAMLError as exc:
        return YamlDocument(path, None, None, (Problem(Position(1, 1), f"invalid YAML: {exc}"),))
    if root is None:
        return YamlDocument(path, None, None, (Problem(Position(1, 1), "the file is empty"),))
    builder = _Builder()
    data = builder.build(root)
    return YamlDocument(path, root, data, tuple(builder.problems))


# -- validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Located(Generic[M]):
    """A validated model with the document it came from (for later, located checks)."""

    model: M
    document: YamlDocument


def validation_errors(document: YamlDocument, exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """Every pydantic error as a located line; errors on the same spot are merged."""
    merged: dict[tuple[Position, Loc], list[str]] = {}
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        position, found = document.locate(loc, key=kind == "extra_forbidden")
        message = _message(error, loc, found, model)
        where = ".".join(str(p) for p in (loc if kind == "extra_forbidden" else found))
        text = f"{where}: {message}" if where else message
        bucket = merged.setdefault((position, found), [])
        if text not in bucket:
            bucket.append(text)
    lines = []
    for (position, _), texts in merged.items():
        lines.append((position, " / ".join(texts) if len(texts) > 1 else texts[0]))
    return [document.line(position, text) for position, text in lines]


#: error types whose message already says everything
_OWN_MESSAGES = frozenset({"unknown_transform", "transform_shape"})


def _message(error: Any, loc: Loc, found: Loc, model: type[BaseModel]) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    if kind == "missing":
        missing = loc[len(found)] if len(found) < len(loc) else loc[-1]
        return f"missing required key {str(missing)!r}"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        replaced = replaced_keys(model, loc[:-1])
        if key in replaced:  # a key that was renamed or withdrawn: say what took its place
            return f"{key} was replaced by {replaced[key]}"
        allowed = allowed_keys(model, loc[:-1])
        if allowed:
            hint = did_you_mean(key, allowed) or f" (allowed: {', '.join(sorted(allowed))})"
        else:
            hint = ""
        return f"unknown key {key!r}{hint}"
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value error|Assertion failed), ", "", msg)
    if kind in ("literal_error", "enum"):  # a Literal or a StrEnum field
        options = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        got = error.get("input")
        hint = did_you_mean(str(got), options) if isinstance(got, str) else ""
        return f"{msg}, got {show_value(got)}{hint}"
    if kind in _OWN_MESSAGES:
        return msg
    if "input" in error and not isinstance(error["input"], (dict, list)):
        return f"{msg}, got {show_value(error['input'])}"
    return msg


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """The keys the model accepts at ``loc`` (aliases where set), or ``None`` if unknown."""
    found = _model_at(model, loc)
    if found is None:
        return None
    return [info.alias or name for name, info in found.model_fields.items()]


def replaced_keys(model: type[BaseModel], loc: Loc) -> dict[str, str]:
    """Keys the model at ``loc`` no longer accepts, each with what replaced it: a model lists them
    in a ``REPLACED_KEYS`` class variable (``{"old_key": "new_key: how to write it"}``)."""
    found = _model_at(model, loc)
    replaced = getattr(found, "REPLACED_KEYS", None) if found is not None else None
    return dict(replaced) if isinstance(replaced, dict) else {}


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    tp: Any = model
    for part in loc:
        tp = _descend(tp, part)
        if tp is None:
            return None
    return _model_of(tp)


def _arms(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _arms(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [arm for arg in typing.get_args(tp) for arm in _arms(arg)]
    return [tp]


def _model_of(tp: Any) -> type[BaseModel] | None:
    for arm in _arms(tp):
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            return arm
    return None


def _descend(tp: Any, part: str | int) -> Any:
    for arm in _arms(tp):
        if isinstance(arm, type) and issubclass(arm, BaseModel) and isinstance(part, str):
            for name, info in arm.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        origin = typing.get_origin(arm)
        args = typing.get_args(arm)
        if origin in (list, tuple, Sequence) and isinstance(part, int) and args:
            return args[0]
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
    return None


def validate_document(document: YamlDocument, model: type[M]) -> tuple[M | None, list[str]]:
    """Validate a parsed document: ``(model, [])`` when clean, else ``(None, errors)``."""
    errors = [document.line(p.position, p.message) for p in document.problems]
    if document.root is None:
        return None, errors
    try:
        parsed = model.model_validate(document.data)
    except ValidationError as exc:
        errors.extend(validation_errors(document, exc, model))
        return None, sort_errors(errors)
    if errors:
        return None, sort_errors(errors)
    return parsed, []


def read_yaml_model(path: Path, model: type[M], text: str | None = None) -> tuple[Located[M] | None, list[str]]:
    """Parse and validate; ``(located, [])`` when clean, ``(None, errors)`` otherwise."""
    document = parse_yaml(path, text)
    parsed, errors = validate_document(document, model)
    return (Located(parsed, document) if parsed is not None else None), errors


def parse_yaml_model(path: Path, model: type[M]) -> Located[M]:
    located, errors = read_yaml_model(path, model)
    if located is None:
        raise MappingFileError(errors)
    return located


def load_yaml_model(path: Path, model: type[M]) -> M:
    """The validated model of a YAML file, or ``MappingFileError`` with every located problem."""
    return parse_yaml_model(path, model).model


def sort_errors(errors: list[str]) -> list[str]:
    """By file, then line, then column."""

    def key(line: str) -> tuple[str, int, int]:
        match = re.match(r"^(.*):(\d+):(\d+): ", line)
        if not match:
            return (line, 0, 0)
        return (match.group(1), int(match.group(2)), int(match.group(3)))

    return sorted(errors, key=key)

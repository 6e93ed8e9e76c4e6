"""The API reference page, drawn from the server's own OpenAPI schema.

FastAPI's built-in /docs loads Swagger UI from a CDN: blank on a machine without the
internet, and a request to elsewhere from a tool that says nothing leaves the machine.
This page is plain HTML from the same schema (`/openapi.json` stays the machine-readable
form): every operation with its parameters, body and answers, then every model's fields.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

__all__ = ["Field", "Model", "Operation", "Reference", "link_models", "reference"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_METHOD_ORDER = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: tuple[Field, ...]
    body: str | None  # "content type: model"
    answers: tuple[tuple[str, str, str], ...]  # (status, description, model)

    @property
    def anchor(self) -> str:
        return f"{self.method}-{self.path}".replace("/", "-").replace("{", "").replace("}", "")


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Reference:
    title: str
    version: str
    description: str
    auth: str
    operations: tuple[Operation, ...]
    models: tuple[Model, ...]

    @property
    def model_names(self) -> frozenset[str]:
        return frozenset(m.name for m in self.models)


def reference(schema: dict[str, Any]) -> Reference:
    """The page's content from an OpenAPI 3.1 schema."""
    info = schema.get("info", {})
    components = schema.get("components", {})
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method in sorted(methods, key=_method_rank):
            op = methods[method]
            operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    parameters=tuple(
                        Field(
                            name=f"{p['name']} ({p.get('in', '?')})",
                            type=type_of(p.get("schema", {})),
                            required=bool(p.get("required")),
                            description=p.get("description", ""),
                        )
                        for p in op.get("parameters", [])
                    ),
                    body=_body(op.get("requestBody")),
                    answers=tuple(
                        (status, answer.get("description", ""), _content_model(answer))
                        for status, answer in op.get("responses", {}).items()
                    ),
                )
            )
    models = tuple(
        Model(name=name, description=body.get("description", ""), fields=_fields(body))
        for name, body in sorted(components.get("schemas", {}).items())
    )
    auth = " ".join(
        s.get("description", "") for s in components.get("securitySchemes", {}).values()
    )
    return Reference(
        title=info.get("title", ""),
        version=info.get("version", ""),
        description=info.get("description", ""),
        auth=auth,
        operations=tuple(operations),
        models=models,
    )


def type_of(schema: dict[str, Any]) -> str:
    """A schema's type in words: 'string (date)', 'list of Result', 'Basis or null'."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema or "oneOf" in schema:
        return " or ".join(type_of(s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        values = schema["additionalProperties"]
        if isinstance(values, dict) and values:
            return f"map of text to {type_of(values)}"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind is None:
        return "any"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def link_models(text: str, models: Collection[str]) -> Markup:
    """The text, escaped, with every model's name a link to its table on the page."""
    out = []
    last = 0
    for match in _NAME.finditer(text):
        if match.group() in models:
            out.append(escape(text[last : match.start()]))
            out.append(Markup('<a href="#model-{0}">{0}</a>').format(match.group()))
            last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _method_rank(method: str) -> int:
    return _METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER)


def _fields(schema: dict[str, Any]) -> tuple[Field, ...]:
    required = set(schema.get("required", []))
    return tuple(
        Field(
            name=name,
            type=type_of(prop),
            required=name in required,
            description=prop.get("description", ""),
        )
        for name, prop in schema.get("properties", {}).items()
    )


def _body(body: dict[str, Any] | None) -> str | None:
    if not body:
        return None
    return "; ".join(
        f"{kind}: {type_of(part.get('schema', {}))}"
        for kind, part in body.get("content", {}).items()
    )


def _content_model(answer: dict[str, Any]) -> str:
    return "; ".join(
        f"{kind}: {type_of(part.get('schema', {}))}" if part.get("schema") else kind
        for kind, part in answer.get("content", {}).items()
    )

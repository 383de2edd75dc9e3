"""The settings reference of ``docs/operations.md``, generated from :class:`~streams.settings.Settings`.

Every ``STREAMDECIDE_*`` variable (nested models flattened with ``__``), its type
and range, default and description. A test keeps the doc equal to
:func:`settings_reference` (and to the metrics table of :mod:`streams.metrics`);
``python -m streams.settings_doc docs/operations.md`` rewrites both generated blocks.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from streams.metrics import metrics_reference
from streams.settings import Settings

ENV_PREFIX: str = Settings.model_config["env_prefix"]
NESTED_DELIMITER: str = Settings.model_config["env_nested_delimiter"]
SECRET_SETTINGS: frozenset[str] = frozenset({
    "STREAMDECIDE_KAFKA_SASL_USERNAME", "STREAMDECIDE_KAFKA_SASL_PASSWORD", "STREAMDECIDE_PII_KEY",
})
_BOUNDS = (
    (annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "<="),
    (annotated_types.Lt, "lt", "<"), (annotated_types.MinLen, "min_length", "length >="),
)


@dataclass(frozen=True)
class SettingDoc:
    """One environment variable of the settings."""

    env: str
    kind: str
    default: str
    description: str
    secret: bool


def type_name(annotation: Any) -> str:
    """A short, readable name of a field's type.

    Examples
    --------
    >>> type_name(int), type_name(str | None), type_name(Literal["a", "b"]), type_name(Path)
    ('int', 'str, optional', 'one of a, b', 'path')
    >>> type_name(dict[str, float]), type_name(tuple[int, ...])
    ('JSON object', 'JSON array')
    """
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation))
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        name = " or ".join(type_name(a) for a in kinds)
        return f"{name}, optional" if len(kinds) < len(get_args(annotation)) else name
    if get_origin(annotation) is dict or _is_model(annotation):
        return "JSON object"
    if get_origin(annotation) in (list, tuple):
        return "JSON array"
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for kind, attribute, symbol in _BOUNDS:
            if isinstance(meta, kind):
                parts.append(f"{symbol} {getattr(meta, attribute)}")
    return f" ({', '.join(parts)})" if parts else ""


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, dict | list | tuple | BaseModel):
        return f"`{TypeAdapter(field.annotation).dump_json(value).decode()}`"
    return f"`{value}`"


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def setting_docs(model: type[BaseModel] = Settings, prefix: str = ENV_PREFIX) -> Iterator[SettingDoc]:
    """Every variable of ``model``, nested models flattened with ``__``.

    Examples
    --------
    >>> docs = {d.env: d for d in setting_docs()}
    >>> docs["STREAMDECIDE_METRICS_PORT"].kind, docs["STREAMDECIDE_METRICS_PORT"].default
    ('int (>= 1, <= 65535)', '`9464`')
    >>> docs["STREAMDECIDE_BATCHING__MAX_SIZE"].default, docs["STREAMDECIDE_PII_KEY"].secret
    ('`256`', True)
    """
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        if _is_model(field.annotation):
            yield from setting_docs(field.annotation, f"{env}{NESTED_DELIMITER}")
            continue
        yield SettingDoc(
            env=env,
            kind=type_name(field.annotation) + _bounds(field),
            default=_default(field),
            description=(field.description or "").replace("|", "\\|"),
            secret=env in SECRET_SETTINGS,
        )


def env_names() -> frozenset[str]:
    """Every ``STREAMDECIDE_*`` name the settings read (what deploy files may set).

    Examples
    --------
    >>> {"STREAMDECIDE_KAFKA_BOOTSTRAP", "STREAMDECIDE_TRITON__DEADLINE_S"} <= env_names()
    True
    """
    return frozenset(doc.env for doc in setting_docs())


def settings_reference() -> str:
    """The settings table of ``docs/operations.md`` (Markdown).

    Examples
    --------
    >>> print(settings_reference().splitlines()[0])
    | variable | type | default | secret | meaning |
    """
    lines = ["| variable | type | default | secret | meaning |", "|---|---|---|---|---|"]
    for doc in setting_docs():
        lines.append(f"| `{doc.env}` | {doc.kind} | {doc.default} | {'yes' if doc.secret else ''} | {doc.description} |")
    return "\n".join(lines)


GENERATED: dict[str, Callable[[], str]] = {"settings": settings_reference, "metrics": metrics_reference}


def replace_generated(text: str, name: str, body: str) -> str:
    r"""Put ``body`` between the ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->`` markers.

    Examples
    --------
    >>> replace_generated("a\n<!-- generated:x -->\nold\n<!-- end:x -->\nb", "x", "new")
    'a\n<!-- generated:x -->\nnew\n<!-- end:x -->\nb'
    """
    pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(\n<!-- end:{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no <!-- generated:{name} --> ... <!-- end:{name} --> block")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def update_doc(path: Path) -> None:
    """Rewrite every generated block of the Markdown file at ``path``."""
    text = path.read_text()
    for name, render in GENERATED.items():
        text = replace_generated(text, name, render())
    path.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        update_doc(Path(sys.argv[1]))
    else:
        print(settings_reference())

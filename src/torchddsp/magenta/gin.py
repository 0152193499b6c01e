"""Read gin configs (Magenta's ``operative_config-0.gin``) into plain data, never running them.

A gin file is a list of statements: ``import a.b [as c]`` and ``from a import b`` (kept, not
followed), ``include 'file.gin'`` (kept, not followed) and bindings ``[scope/]Configurable.param
= value``; a binding without a dot, ``name = value``, defines a macro. Values are Python
literals (numbers, strings, ``True``/``False``/``None``, lists, tuples, dicts) plus gin's
references ``@[scope/]name`` (:class:`Reference`; ``@name()`` is an evaluated one) and macros
``%name`` (:class:`Macro`). Inside brackets a value may span lines; elsewhere a line ends a
statement unless it ends with a backslash. ``#`` starts a comment.

Anything else (an expression, a bare name such as ``tf.float32``, a malformed line) raises
:class:`GinSyntaxError` naming the line and column: the parser reads data only, it never
evaluates what it reads (literals are checked by a regular expression before
:func:`ast.literal_eval` turns one token into its value).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from ..validation import InputError

__all__ = ["GinConfig", "GinSyntaxError", "Macro", "Reference", "parse_gin", "read_gin"]

_SELECTOR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[./][A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.])")
_STRING = re.compile(
    r"""[rRbBuU]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")"""
)
_CONSTANTS = {"True": True, "False": False, "None": None}
_CLOSE = {"[": "]", "(": ")", "{": "}"}


class GinSyntaxError(InputError):
    """A gin file this reader cannot read (with the line and column of the problem)."""


@dataclass(frozen=True)
class Reference:
    """``@name`` (``evaluate=False``) or ``@name()`` (``evaluate=True``); ``name`` keeps its
    scope and module, e.g. ``"synths.Harmonic"`` or ``"harmonic/synths.Harmonic"``."""

    name: str
    evaluate: bool = False

    @property
    def configurable(self) -> str:
        """The name without scope or module: ``"Harmonic"``."""
        return self.name.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Macro:
    """``%name``: the value of the macro binding ``name = value``."""

    name: str


@dataclass
class GinConfig:
    """A parsed gin file.

    Fields: ``bindings`` (``"[scope/]module.Configurable.param"`` -> value, later bindings
    replacing earlier ones, as gin does), ``macros`` (name -> value), ``imports`` and
    ``includes`` (as written).

    Example:
        >>> config = parse_gin("lr = 3e-4\\nTrainer.learning_rate = %lr\\ndecoders.RnnFcDecoder.ch = 16")
        >>> config.get("RnnFcDecoder", "ch"), config.get("Trainer", "learning_rate"), config.get("Trainer", "x", 1)
        (16, 0.0003, 1)
    """

    bindings: dict[str, Any] = field(default_factory=dict)
    macros: dict[str, Any] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)

    def resolve(self, value: Any, _depth: int = 0) -> Any:
        """``value`` with every :class:`Macro` replaced by its value (recursively)."""
        if _depth > 50:
            raise GinSyntaxError("gin macros refer to one another in a cycle")
        if isinstance(value, Macro):
            if value.name not in self.macros:
                raise GinSyntaxError(f"gin macro %{value.name} is used but never defined")
            return self.resolve(self.macros[value.name], _depth + 1)
        if isinstance(value, list):
            return [self.resolve(v, _depth) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v, _depth) for v in value)
        if isinstance(value, dict):
            return {self.resolve(k, _depth): self.resolve(v, _depth) for k, v in value.items()}
        return value

    def find(self, configurable: str, param: str, scope: str | None = None) -> list[str]:
        """The binding keys of ``configurable.param`` (module prefixes ignored) in ``scope``
        (None: unscoped bindings only)."""
        keys = []
        for key in self.bindings:
            where, _, name = key.rpartition("/")
            if (where or None) != scope or "." not in name:
                continue
            owner, _, bound = name.rpartition(".")
            if bound == param and owner.rsplit(".", 1)[-1] == configurable:
                keys.append(key)
        return keys

    def get(self, configurable: str, param: str, default: Any = None, scope: str | None = None) -> Any:
        """The value (macros resolved) bound to ``configurable.param``, or ``default``."""
        keys = self.find(configurable, param, scope)
        if len(keys) > 1:
            raise GinSyntaxError(f"{configurable}.{param} is bound more than once, under {keys}")
        return self.resolve(self.bindings[keys[0]]) if keys else default


class _Parser:
    """A recursive-descent reader over the whole text (positions give line and column)."""

    def __init__(self, text: str, source: str):
        self.text, self.pos, self.source = text, 0, source

    def error(self, message: str, pos: int | None = None) -> GinSyntaxError:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        lines = self.text.splitlines()
        snippet = lines[min(line, len(lines)) - 1] if lines else ""
        return GinSyntaxError(f"{self.source}:{line}:{column}: {message} (in {snippet.strip()!r})")

    def skip(self, newlines: bool) -> None:
        """Skip spaces, comments, backslash-newlines, and newlines when ``newlines``."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            elif char == "\\" and self.text.startswith("\n", self.pos + 1):
                self.pos += 2
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        found = pattern.match(self.text, self.pos)
        if not found:
            raise self.error(f"expected {what}")
        self.pos = found.end()
        return found.group()

    def end_of_statement(self) -> None:
        self.skip(newlines=False)
        if self.pos < len(self.text) and self.text[self.pos] != "\n":
            raise self.error("unexpected text after the statement")

    def value(self, newlines: bool) -> Any:
        """One value; ``newlines``: inside brackets, where line breaks are spaces."""
        self.skip(newlines)
        if self.pos >= len(self.text):
            raise self.error("expected a value, found the end of the file")
        char = self.text[self.pos]
        if char in _CLOSE:
            return self.bracketed(char)
        if char == "@":
            self.pos += 1
            name = self.match(_SELECTOR, "a configurable name after @")
            evaluate = self.text.startswith("()", self.pos)
            self.pos += 2 if evaluate else 0
            return Reference(name, evaluate)
        if char == "%":
            self.pos += 1
            return Macro(self.match(_SELECTOR, "a macro name after %"))
        if _STRING.match(self.text, self.pos):
            return self.strings(newlines)
        if _NUMBER.match(self.text, self.pos):
            return ast.literal_eval(self.match(_NUMBER, "a number"))
        start = self.pos
        name = self.match(_SELECTOR, "a value (a literal, @reference or %macro)")
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        raise self.error(f"{name!r} is not a literal, @reference or %macro (gin files are read, never run)", start)

    def strings(self, newlines: bool) -> str | bytes:
        """Adjacent string literals, joined as Python joins them."""
        parts = []
        while _STRING.match(self.text, self.pos):
            start = self.pos
            token = self.match(_STRING, "a string")
            if token[0] in "bBuU" and len(token) > 1 and token[1] in "rR":
                raise self.error("byte and unicode raw strings are not supported", start)
            parts.append(ast.literal_eval(token))
            self.skip(newlines)
        if len({type(p) for p in parts}) > 1:
            raise self.error("cannot join text and bytes literals")
        return parts[0][:0].join(parts)

    def bracketed(self, opening: str) -> Any:
        """A list, tuple (or parenthesised value) or dict; line breaks inside are spaces."""
        start, closing = self.pos, _CLOSE[opening]
        self.pos += 1
        items: list[Any] = []
        trailing_comma = False
        while True:
            self.skip(newlines=True)
            if self.text.startswith(closing, self.pos):
                self.pos += 1
                break
            item = self.value(newlines=True)
            if opening == "{":
                self.skip(newlines=True)
                if not self.text.startswith(":", self.pos):
                    raise self.error("expected ':' in a dict")
                self.pos += 1
                item = (item, self.value(newlines=True))
            items.append(item)
            self.skip(newlines=True)
            trailing_comma = self.text.startswith(",", self.pos)
            if trailing_comma:
                self.pos += 1
            elif not self.text.startswith(closing, self.pos):
                raise self.error(f"expected ',' or {closing!r} (the bracket opened at {self.where(start)})")
        if opening == "[":
            return items
        if opening == "{":
            return self.as_dict(items, start)
        return items[0] if len(items) == 1 and not trailing_comma else tuple(items)

    def as_dict(self, items: list[Any], start: int) -> dict[Any, Any]:
        try:
            return dict(items)
        except TypeError:
            raise self.error("a dict key must be a number, string, reference or tuple", start) from None

    def where(self, pos: int) -> str:
        return f"line {self.text.count(chr(10), 0, pos) + 1}"

    def statement(self, config: GinConfig) -> None:
        start = self.pos
        word = self.match(_SELECTOR, "a binding, import or include")
        self.skip(newlines=False)
        if word in ("import", "from", "include") and not self.text.startswith("=", self.pos):
            line_end = self.text.find("\n", self.pos)
            rest = self.text[self.pos : len(self.text) if line_end < 0 else line_end].split("#")[0].strip()
            if word == "include":
                self.pos = start + len(word)
                included = self.value(newlines=False)
                if not isinstance(included, str):
                    raise self.error("include takes a quoted file name", start)
                config.includes.append(included)
            else:
                config.imports.append(f"{word} {rest}".strip())
                self.pos = len(self.text) if line_end < 0 else line_end
            return self.end_of_statement()
        if self.text.startswith(":", self.pos):
            config.bindings.update(self.block(word))
            return None
        if not self.text.startswith("=", self.pos):
            raise self.error("expected '=' after the binding's name")
        self.pos += 1
        value = self.value(newlines=False)
        self.end_of_statement()
        if "." in word.rsplit("/", 1)[-1]:
            config.bindings[word] = value
        else:
            config.macros[word] = value

    def block(self, configurable: str) -> dict[str, Any]:
        """``Configurable:`` then indented ``param = value`` lines (gin's block syntax)."""
        self.pos += 1
        self.end_of_statement()
        bound: dict[str, Any] = {}
        while True:
            self.skip(newlines=True)
            if self.pos >= len(self.text) or self.pos == self.text.rfind("\n", 0, self.pos) + 1:
                return bound  # the end, or an unindented line: the block is over
            param = self.match(_SELECTOR, "a parameter name in the block")
            self.skip(newlines=False)
            if not self.text.startswith("=", self.pos):
                raise self.error(f"expected '=' after {configurable}'s parameter {param!r}")
            self.pos += 1
            bound[f"{configurable}.{param}"] = self.value(newlines=False)
            self.end_of_statement()

    def parse(self) -> GinConfig:
        config = GinConfig()
        while True:
            self.skip(newlines=True)
            if self.pos >= len(self.text):
                return config
            self.statement(config)


def parse_gin(text: str, source: str = "<gin>") -> GinConfig:
    """Parse the text of a gin file (``source`` names it in errors).

    Example:
        >>> config = parse_gin('''
        ... ProcessorGroup.dag = [  # one node a line
        ...     (@synths.Harmonic(), ['amps', 'harmonic_distribution', 'f0_hz']),
        ...     (@effects.Reverb(), ['add/signal'])]
        ... RnnFcDecoder.output_splits = (('amps', 1), ('harmonic_distribution', 60))
        ... ''')
        >>> config.get("ProcessorGroup", "dag")[0]
        (Reference(name='synths.Harmonic', evaluate=True), ['amps', 'harmonic_distribution', 'f0_hz'])
        >>> dict(config.get("RnnFcDecoder", "output_splits"))
        {'amps': 1, 'harmonic_distribution': 60}
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, found {type(text).__name__}")
    return _Parser(text, source).parse()


def read_gin(path: str | Path) -> GinConfig:
    """Parse a gin file (UTF-8); ValueError naming it when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gin file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not a UTF-8 text file ({error})") from None
    return parse_gin(text, str(path))

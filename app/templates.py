"""Safe response templates: `{placeholders}` from a fixed list, filled by a tiny renderer.

A pattern's reply may be written by anyone with access, so the renderer is deliberately
dumb: it never calls `str.format`/`format_map` (which reach attributes and items:
`{0.__class__}`, `{name[0]}`) and is no template engine (`{% %}`, `{{ 7*7 }}`). It scans
the text once, turns `{name}` into a dictionary lookup of a name from `PLACEHOLDERS`, and
copies everything else literally, values included (a value holding `{x}` stays `{x}`).

Syntax:
- `{name}` — required: with no value, the reply cannot be completed and a human answers;
- `{name?}` — optional: with no value it is left out (with the space before it);
- `{{` and `}}` — a literal `{` and `}`.
Anything else between braces is rejected by `validate_template`, naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.errors import InvalidInput
from app.privacy import MASKS

# The fixed list, and where each value comes from (README: "Response templates").
PLACEHOLDERS: dict[str, str] = {
    "business_name": "the tenant's name",
    "location": "the name of the phone line the customer texted",
    "business_phone": "the number of the phone line the customer texted",
    "customer_first_name": "the customer's first name, when the caller knows it",
    "booking_link": "tenant template value",
    "website": "tenant template value",
    "address": "tenant template value",
    "business_email": "tenant template value",
    "opening_hours": "tenant template value",
}
# The ones a tenant sets itself (PUT /api/template-values); the rest come from the live flow.
TENANT_VALUES: tuple[str, ...] = tuple(k for k, v in PLACEHOLDERS.items() if v == "tenant template value")

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_BRACES = re.compile(r"[{}]")


@dataclass(frozen=True)
class Slot:
    """A placeholder in a parsed template."""

    name: str
    optional: bool


Part = str | Slot


def parse(text: str, field: str = "response_text") -> list[Part]:
    """The template as literal strings and slots; InvalidInput names the first bad placeholder."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        match = _BRACES.search(text, i)
        if match is None:
            literal.append(text[i:])
            break
        start = match.start()
        literal.append(text[i:start])
        if text.startswith("{{", start) or text.startswith("}}", start):
            literal.append(text[start])
            i = start + 2
            continue
        if text[start] == "}":
            raise InvalidInput(field, f"unmatched '}}' at position {start}; write '}}}}' for a literal brace")
        end = text.find("}", start + 1)
        nested = text.find("{", start + 1)
        if end == -1 or (nested != -1 and nested < end):
            raise InvalidInput(
                field, f"unclosed placeholder at position {start}; write '{{{{' for a literal brace"
            )
        slot = _slot(text[start + 1 : end], field)
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(slot)
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return [part for part in parts if part != ""]


def _slot(inner: str, field: str) -> Slot:
    optional = inner.endswith("?")
    name = inner[:-1] if optional else inner
    shown = "{" + inner + "}"
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            field,
            f"placeholder {shown} is not allowed: only a name from the list "
            f"({', '.join(PLACEHOLDERS)}), optionally ending in '?'",
        )
    if name not in PLACEHOLDERS:
        raise InvalidInput(
            field, f"unknown placeholder {shown}; known placeholders: {', '.join(PLACEHOLDERS)}"
        )
    return Slot(name, optional)


def validate_template(text: str, field: str = "response_text") -> list[str]:
    """Check a reply a person wrote; returns the placeholder names it uses, or raises InvalidInput."""
    if not isinstance(text, str):
        raise InvalidInput(field, "must be a string")
    return sorted({part.name for part in parse(text, field) if isinstance(part, Slot)})


@dataclass(frozen=True)
class Rendered:
    """A filled-in reply, or None with the reason it cannot go out unattended."""

    text: str | None
    missing: list[str] = field(default_factory=list)
    problem: str | None = None


def render(template: str, values: dict[str, str]) -> Rendered:
    """Fill a template; a missing required value (or a bad template) yields no text."""
    try:
        parts = parse(template)
    except InvalidInput as error:
        return Rendered(None, problem=f"the reply is not a valid template ({error.message})")
    out: list[str] = []
    missing: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = values.get(part.name)
        if isinstance(value, str) and value.strip():
            out.append(value.strip())  # copied as it is: never parsed, never formatted
        elif part.optional:
            _drop_space_before(out)
        else:
            missing.append(part.name)
    if missing:
        names = ", ".join(sorted(set(missing)))
        return Rendered(None, missing=sorted(set(missing)), problem=f"no value for {names}")
    text = "".join(out).strip()
    masked = [mask for mask in MASKS if mask in text]
    if masked:
        # A learned reply that held somebody's phone number or address: not for another customer.
        return Rendered(None, problem=f"the reply holds masked personal data ({', '.join(masked)})")
    return Rendered(text)


def _drop_space_before(out: list[str]) -> None:
    """Leaving out `{name?}` in "Hi {name?}, ..." gives "Hi, ...", not "Hi , ..."."""
    if out and out[-1].endswith(" "):
        out[-1] = out[-1][:-1]

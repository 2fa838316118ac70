"""Where a dialer call goes out: the PBX dial string with the admin's trunk, and the number as that
trunk wants it (issue 13 item 1).

A real floor dials through the admin's own trunk (``PJSIP/{number}@my-provider``, a FreePBX outbound
route ``Local/{number}@from-internal``, a FreeSWITCH gateway ``sofia/gateway/{gateway}/{number}``),
and providers disagree on the number: E.164 with ``+``, without it, or national with a trunk
prefix.  The adapter fills its configured template (overridden per project) with the trunk here;
the engine formats each contact's stored E.164 number with :class:`NumberFormat` when it builds the
originate.  Nothing here has a default trunk: a project with no usable target is refused with the
field to set, never dialled through a lab's trunk name.  Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers

from ccagent.core.projects import ProjectError

__all__ = ["DIAL_SETTINGS", "NUMBER_FORMATS", "NumberFormat", "check_dial_settings", "fill_dial_string"]

NUMBER_FORMATS = ("e164", "e164_digits", "national")
NumberStyle = Literal["e164", "e164_digits", "national"]

#: What a trunk / gateway name may hold: it lands in an AMI header or an ESL command line.
TRUNK_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
_PREFIX_RE = re.compile(r"^\+?[0-9*#]{0,16}$")
#: Characters a dial string template may hold besides its placeholders (no spaces, braces of
#: ESL variables, ``&`` of an ESL application, ``,`` or CR/LF of an AMI header).
_TEMPLATE_TEXT = re.compile(r"^[A-Za-z0-9_./@:;+*#=-]*$")

#: Project settings that override the PBX section's target (docs/projects.md).
DIAL_SETTINGS: Mapping[str, str] = {
    "trunk": "trunk (Asterisk) or gateway (FreeSWITCH) the project dials through",
    "dial_string": "the PBX dial string template, with {number} and {trunk} / {gateway}",
    "number_format": "e164 (+380...), e164_digits (380...) or national (0...)",
    "strip_prefix": "removed from the start of the formatted number when present",
    "add_prefix": "put before the formatted number (an outside-line digit, 00...)",
}


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """A contact's stored E.164 number -> the digits the trunk dials."""

    style: NumberStyle = "e164"
    strip_prefix: str = ""
    add_prefix: str = ""
    region: str = "UA"  # whose numbers ``national`` writes nationally (others: the region's IDD)

    def apply(self, number: str) -> str:
        """Raises ``ValueError`` for a number it cannot format (the attempt then fails, named)."""
        text = number.strip()
        if self.style == "national":
            try:
                parsed = phonenumbers.parse(text, self.region)
            except phonenumbers.NumberParseException as exc:
                raise ValueError(f"{text[:40]!r} is not a phone number ({exc})") from None
            text = phonenumbers.format_out_of_country_calling_number(parsed, self.region)
            text = re.sub(r"[^0-9+*#]", "", text)
        elif self.style == "e164_digits":
            text = text.removeprefix("+")
        if self.strip_prefix and text.startswith(self.strip_prefix):
            text = text[len(self.strip_prefix) :]
        return self.add_prefix + text


def _fields(template: str) -> list[str]:
    try:
        return [f for _lit, f, _spec, _conv in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc})") from None


def check_template(template: str, trunk_word: str) -> None:
    """A dial string template: ``{number}`` once, ``{<trunk_word>}`` at most, nothing that could
    break the PBX command it lands in.  ``ValueError`` says what is wrong."""
    fields = _fields(template)
    unknown = sorted(set(fields) - {"number", trunk_word})
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} (use {{number}} and {{{trunk_word}}})")
    if fields.count("number") != 1:
        raise ValueError("must contain {number} exactly once")
    literal = template.replace("{number}", "").replace("{" + trunk_word + "}", "")
    if not _TEMPLATE_TEXT.match(literal) or "/" not in literal:
        raise ValueError("must look like TECH/... and hold no spaces, commas, braces or '&'")


def fill_dial_string(template: str, trunk: str | None, *, trunk_word: str, where: str) -> str:
    """The template with its trunk filled in, ``{number}`` left for the engine.

    ``where`` names the config keys for the error (``pbx.asterisk.trunk``): a template that needs a
    trunk nobody set is refused here, naming both places it can be set.
    """
    try:
        check_template(template, trunk_word)
    except ValueError as exc:
        raise ProjectError(f"dial_string: {exc}") from None
    if "{" + trunk_word + "}" not in template:
        return template
    if not trunk:
        raise ProjectError(
            f"{where}: no {trunk_word} to dial through: set {where} or the project's settings.trunk"
        )
    return template.replace("{" + trunk_word + "}", trunk)


def check_dial_settings(settings: Mapping[str, Any]) -> None:
    """The shape of a project's dial settings; errors name the key."""
    for key in ("trunk", "dial_string", "strip_prefix", "add_prefix", "number_format"):
        if key in settings and not isinstance(settings[key], str):
            raise ProjectError(f"settings.{key}: must be text")
    if "trunk" in settings and not TRUNK_RE.match(settings["trunk"]):
        raise ProjectError("settings.trunk: 1-64 letters, digits, '_', '.', ':', '@' or '-'")
    if "dial_string" in settings:
        errors: list[str] = []
        for word in ("trunk", "gateway"):  # the project does not know its PBX: either word reads
            try:
                check_template(settings["dial_string"], word)
                break
            except ValueError as exc:
                errors.append(str(exc))
        else:
            raise ProjectError(f"settings.dial_string: {errors[0]}")
    if "number_format" in settings and settings["number_format"] not in NUMBER_FORMATS:
        raise ProjectError(f"settings.number_format: must be one of {', '.join(NUMBER_FORMATS)}")
    for key in ("strip_prefix", "add_prefix"):
        if key in settings and not _PREFIX_RE.match(settings[key]):
            raise ProjectError(f"settings.{key}: up to 16 digits, '*' or '#', optionally after a '+'")


def number_format_of(settings: Mapping[str, Any], default: NumberFormat) -> NumberFormat:
    """The PBX section's number format with the project's overrides."""
    return NumberFormat(
        style=settings.get("number_format", default.style),
        strip_prefix=settings.get("strip_prefix", default.strip_prefix),
        add_prefix=settings.get("add_prefix", default.add_prefix),
        region=default.region,
    )

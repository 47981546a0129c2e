"""FastAPI's request validation errors (pydantic's) in the reader's language.

Pydantic words its errors in English (`msg`) and says which rule failed
(`type`, with the rule's values in `ctx`). English readers get pydantic's
own words; Chinese readers get the rule in Chinese, by its type, filled
from `ctx`; a type we do not know reads "invalid value". The request's
error body names the field besides (`errors[].field`, and the detail).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from api.i18n import N_, _, current_lang, error_text

# The error types our routes' parameters and bodies can meet, each as a
# message of the catalogue filled from the error's `ctx`. The English
# text is the catalogue's key; English readers see pydantic's `msg`.
PROBLEMS: dict[str, str] = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "multiple_of": N_("Input should be a multiple of {multiple_of}"),
    "finite_number": N_("Input should be a finite number"),
    "too_short": N_("should have at least {min_length} items"),
    "too_long": N_("should have at most {max_length} items"),
    "string_type": N_("Input should be a valid string"),
    "string_unicode": N_(
        "Input should be a valid string, unable to parse raw data as a unicode string"
    ),
    "string_too_short": N_("String should have at least {min_length} characters"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "enum": N_("Input should be {expected}"),
    "literal_error": N_("Input should be {expected}"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "model_attributes_type": N_(
        "Input should be a valid dictionary or object to extract fields from"
    ),
    "list_type": N_("Input should be a valid list"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_parsing_size": N_("Unable to parse input string as an integer, exceeded maximum size"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "json_invalid": N_("Invalid JSON: {error}"),
    "json_type": N_("JSON input should be string, bytes or bytearray"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),
    "datetime_type": N_("Input should be a valid datetime"),
    "datetime_parsing": N_("Input should be a valid datetime, {error}"),
    "datetime_from_date_parsing": N_("Input should be a valid datetime or date, {error}"),
    "timezone_aware": N_("Input should have timezone info"),
    "timezone_naive": N_("Input should not have timezone info"),
}
_CHOICE_JOINS = re.compile(r"', '|' or '")


def problem(error: Mapping[str, object]) -> str:
    """One validation error (an item of `RequestValidationError.errors()`)
    as the reader's language says it."""
    if current_lang() == "en":
        return str(error.get("msg") or "invalid value")
    ctx = error.get("ctx")
    context = dict(ctx) if isinstance(ctx, Mapping) else {}
    kind = str(error.get("type", ""))
    if kind == "value_error" and isinstance(context.get("error"), BaseException):
        return error_text(context["error"])  # our validators' own errors
    template = PROBLEMS.get(kind)
    if template is None:
        return _("invalid value")
    if isinstance(context.get("expected"), str):  # "'a', 'b' or 'c'"
        context["expected"] = _CHOICE_JOINS.sub("'、'", context["expected"])
    try:
        return _(template, **context)
    except (KeyError, IndexError, ValueError):  # a ctx without a field we fill
        return _("invalid value")


def request_detail(fields: Sequence[tuple[str, str]]) -> str:
    """The detail of a 422: the first five (field, problem) pairs, with the
    reader's punctuation."""
    if current_lang() == "zh":
        listed = "；".join(f"{f}（{p}）" for f, p in fields[:5])
    else:
        listed = ", ".join(f"{f} ({p})" for f, p in fields[:5])
    return _("invalid request: {fields}", fields=listed)

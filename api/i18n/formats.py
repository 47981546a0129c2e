"""Numbers, money, dates and times as the reader's language writes them.

>>> from api.i18n import use_lang
>>> with use_lang("zh"):
...     money(38569.34), count(123456), day(date(2026, 3, 5))
('¥38,569.34', '12.3万', '2026年3月5日')
>>> with use_lang("en"):
...     money(38569.34), count(123456), day(date(2026, 3, 5))
('¥38,569.34', '123.5K', 'Mar 5, 2026')
"""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_datetime
from babel.numbers import format_compact_decimal, format_decimal, format_percent

from api.i18n import BABEL_LOCALES, current_lang

__all__ = ["count", "day", "integer", "money", "number", "percent", "moment"]


def _locale() -> str:
    return BABEL_LOCALES[current_lang()]


def integer(n: int | float) -> str:
    """1,234,567 (both languages group by thousands in full numbers)."""
    return format_decimal(int(n), format="#,##0", locale=_locale())


def number(x: float, digits: int = 1) -> str:
    """A decimal with `digits` places: 12.3."""
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(x, format=pattern, locale=_locale())


def count(n: int | float) -> str:
    """A large count, compact: 12.3万 / 1.2亿 in Chinese, 123.5K / 1.2M in
    English; counts under 10,000 are written in full."""
    if abs(n) < 10_000:
        return integer(n)
    return format_compact_decimal(n, fraction_digits=1, locale=_locale())


def money(amount: float) -> str:
    """CNY with the yuan sign and fen: ¥38,569.34 in both languages."""
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{format_decimal(abs(amount), format='#,##0.00', locale=_locale())}"


def percent(share: float, digits: int = 1) -> str:
    """A share of 1 as a percentage: 0.1234 → 12.3%."""
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return format_percent(share, format=pattern, locale=_locale())


def day(value: date | datetime) -> str:
    """A calendar day: 2026年3月5日 / Mar 5, 2026."""
    return format_date(
        value, format="long" if current_lang() == "zh" else "medium", locale=_locale()
    )


def moment(value: datetime, zone: str) -> str:
    """A time in the deployment's zone (`KOC_TIMEZONE`), to the minute:
    2026年3月5日 20:03 / Mar 5, 2026, 8:03 PM."""
    pattern = "yyyy年M月d日 HH:mm" if current_lang() == "zh" else "MMM d, yyyy, h:mm a"
    return format_datetime(value, format=pattern, tzinfo=zone, locale=_locale())

"""The time window and campaign filter every windowed statement shares."""

_IN_WINDOW = """{t} >= $since AND {t} < $until
    AND ($campaigns IS NULL OR {c} IN $campaigns)"""


def window(time: str, campaign: str) -> str:
    """`$since <= time < $until`, and the campaign among `$campaigns` unless
    that is null (the embedded store's filter)."""
    return _IN_WINDOW.format(t=time, c=campaign)

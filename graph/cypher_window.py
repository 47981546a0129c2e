"""What the Cypher modules share: times as they cross Bolt (epoch
microseconds), and the time window and campaign filter of every windowed
statement."""

_IN_WINDOW = """{t} >= $since AND {t} < $until
    AND ($campaigns IS NULL OR {c} IN $campaigns)"""

# Large reads come back as columns, a page of users at a time in id order
# (the uniqueness constraint's index gives the order): one record of lists
# a page, which the driver unpacks in Rust, instead of a Python object a row.
USER_PAGE = """MATCH (u:User) WHERE u.id > $after
WITH u ORDER BY u.id LIMIT $page
WITH collect(u) AS page"""

# Where an open churn period ends in `away_until` (9999-12-31, epoch
# microseconds): a Neo4j list holds no nulls.
OPEN_PERIOD_END = 253402214400000000


def window(time: str, campaign: str) -> str:
    """`$since <= time < $until`, and the campaign among `$campaigns` unless
    that is null (the embedded store's filter)."""
    return _IN_WINDOW.format(t=time, c=campaign)


def epoch_time(x: str) -> str:
    """Epoch microseconds (an integer, or null) as a DateTime in UTC."""
    seconds = f"{x} / 1000000 - CASE WHEN {x} % 1000000 < 0 THEN 1 ELSE 0 END"
    nanos = f"({x} % 1000000 + 1000000) % 1000000 * 1000"
    return f"CASE WHEN {x} IS NULL THEN null ELSE datetime({{epochSeconds: {seconds}, nanosecond: {nanos}}}) END"


def micros(x: str) -> str:
    """A DateTime (or null) as epoch microseconds."""
    return f"{x}.epochSeconds * 1000000 + {x}.microsecond"


def churned(u: str) -> str:
    """Whether user `u` was away (churned) at `$until`: inside one of its
    churn periods (graph.derive's `churns`, kept on the node as lists)."""
    return (
        f"any(i IN range(0, size(coalesce({u}.away_from, [])) - 1) "
        f"WHERE {u}.away_from[i] < $until AND {u}.away_until[i] >= $until)"
    )

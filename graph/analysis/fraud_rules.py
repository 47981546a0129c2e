"""The fraud rules' thresholds and weights (`FraudRules`) and one rule's
finding (`Flag`); the rules themselves are in `graph.analysis.fraud`."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_RULE_WEIGHTS = {
    "burst": 0.7,
    "burst_invitee": 0.6,
    "shared_device": 0.6,
    "dead_invitees": 0.5,
    "dead_invitee": 0.3,
    "ring": 0.5,
    "chain": 0.5,
}
RULES = (
    "burst",
    "burst_invitee",
    "shared_device",
    "dead_invitees",
    "dead_invitee",
    "ring",
    "chain",
)


@dataclass(frozen=True)
class FraudRules:
    """Thresholds of the screening rules; the defaults are argued in
    docs/fraud.md."""

    burst_joins: int = 10
    burst_minutes: float = 10.0
    device_users: int = 3
    # A device id on more joins than this is a placeholder ("unknown",
    # "000000") from the export, not a phone: it is ignored.
    device_placeholder_users: int = 1000
    device_share: float = 0.5
    min_invitees: int = 8
    dead_share: float = 0.8
    churn_share: float = 0.5
    ring_users: int = 3
    # A loop larger than this is the network's core, where real friendships
    # meet, not a farm (docs/fraud.md).
    ring_max_users: int = 1000
    chain_length: int = 8
    # Per rule, how much one flag adds to the risk; rules left out keep these.
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RULE_WEIGHTS))

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", {**DEFAULT_RULE_WEIGHTS, **self.weights})
        names = ("burst_joins", "device_users", "min_invitees", "ring_users", "chain_length")
        for name in names:
            if getattr(self, name) < 2:
                raise ValueError(f"fraud rule {name} must be at least 2")
        for name in ("device_share", "dead_share", "churn_share"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"fraud rule {name} must be in (0, 1]")
        if self.ring_max_users < self.ring_users:
            raise ValueError("fraud rule ring_max_users must be at least ring_users")
        if self.device_placeholder_users <= self.device_users:
            raise ValueError("fraud rule device_placeholder_users must exceed device_users")
        if self.burst_minutes <= 0:
            raise ValueError("fraud rule burst_minutes must be positive")
        unknown = set(self.weights) - set(RULES)
        if unknown:
            raise ValueError(f"weights for unknown fraud rules: {', '.join(sorted(unknown))}")
        if any(not 0 <= w <= 1 for w in self.weights.values()):
            raise ValueError("fraud rule weights must be in [0, 1]")


@dataclass
class Flag:
    user: int  # position in the tie graph
    rule: str
    reason: str  # one line, in words
    evidence: dict  # the numbers behind the reason

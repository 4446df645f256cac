"""How the partitioning passes spread work items (heads, experts) over hardware units."""

from __future__ import annotations

from xdsl.utils.exceptions import PassFailedException

POLICIES = ("round-robin", "balanced")


def check_options(pass_name: str, units: int, policy: str) -> None:
    if units < 1:
        raise PassFailedException(f"{pass_name}: units must be >= 1, got {units}")
    if policy not in POLICIES:
        raise PassFailedException(
            f"{pass_name}: policy must be one of {', '.join(POLICIES)}, got '{policy}'"
        )


def spread(items: int, units: int, policy: str) -> list[list[int]]:
    """The units each item runs on.

    round-robin: item i on unit i mod units (with more units than items, the rest stay idle).
    balanced: with units <= items, contiguous blocks of items whose sizes differ by at most one;
    with more units than items, each item gets ⌊units / items⌋ or one more consecutive units and
    its work is split among them, so that no unit is idle.
    """
    if policy == "round-robin" or units <= items:
        if policy == "round-robin":
            return [[i % units] for i in range(items)]
        return [[i * units // items] for i in range(items)]
    result, next_unit = [], 0
    for i in range(items):
        share = units // items + (1 if i < units % items else 0)
        result.append(list(range(next_unit, next_unit + share)))
        next_unit += share
    return result


def even_sizes(total: int, parts: int) -> list[int]:
    """`total` cut into `parts` consecutive sizes that differ by at most one (no empty part)."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]

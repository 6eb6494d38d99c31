"""Waiting-list figures for one queue from its weekly demand and capacity (Fong et al. 2022,
"Understanding the dynamics of waiting lists"; the formulas of the NHSRwaitinglist package):
how loaded the queue is, whether its target will likely be missed, and what would bring it
back. Times are in weeks, as the formulas are written."""

from __future__ import annotations

__all__ = ["load", "pressure", "relief_capacity", "target_mean_wait", "target_queue_size"]

RELIEF_WEEKS = 26
"""How many weeks `relief_capacity` gives to bring the queue down to its target size."""


def load(demand: float, capacity: float) -> float | None:
    """Arrivals over decisions per week; at 1 or more the queue grows without bound."""
    return demand / capacity if capacity else None


def target_mean_wait(target: float) -> float:
    """The mean wait at which about 98 % are served within `target`."""
    return target / 4


def target_queue_size(demand: float, target: float) -> float:
    """The queue that, by Little's law, has the target mean wait at this demand."""
    return demand * target_mean_wait(target)


def pressure(mean_wait: float, target: float) -> float:
    """Twice the mean wait over the target: above 1 the target will likely be missed."""
    return 2 * mean_wait / target


def relief_capacity(demand: float, queue_size: float, target: float) -> float:
    """Decisions per week that would meet the demand and bring the queue to its target size in
    `RELIEF_WEEKS` weeks."""
    return demand + (queue_size - target_queue_size(demand, target)) / RELIEF_WEEKS

"""Small pure helpers shared by the asset models: daily profiles, first-order lags, sensor read-outs."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

DAY_S = 86_400.0


def hour_of_day(t_s: float) -> float:
    """Local hour in [0, 24) from local seconds (``t_s`` is shifted to the site's time zone)."""
    return (t_s % DAY_S) / 3600.0


def by_minute(profile: Callable[[float], float]) -> Callable[[float], float]:
    """A daily profile of the hour, evaluated once per minute of the day and remembered (it is smooth)."""

    @lru_cache(maxsize=1440)
    def at_minute(minute: int) -> float:
        return profile(minute / 60.0)

    def of_hour(hour: float) -> float:
        return at_minute(int(hour * 60.0) % 1440)

    of_hour.__doc__ = profile.__doc__
    return of_hour


def bump(hour: float, centre: float, width: float) -> float:
    """A daily Gaussian bump around ``centre`` (hours), 1.0 at its peak, wrapping around midnight."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (d / width) ** 2)


def lag(current: float, target: float, dt: float, tau_s: float) -> float:
    """First-order lag: ``current`` moves toward ``target`` with time constant ``tau_s`` over ``dt``."""
    return target + (current - target) * math.exp(-dt / tau_s)


def read(value: float, z: float, sigma: float, decimals: int, floor: float | None = 0.0) -> float:
    """What a sensor reports: the true value plus Gaussian noise (``z`` ~ N(0, 1)), clipped at ``floor``,
    quantised to ``decimals`` decimal places (the sensor's resolution)."""
    noisy = value + z * sigma
    if floor is not None and noisy < floor:
        noisy = floor
    return round(noisy, decimals) + 0.0


def wander(x: float, z: float, dt: float, tau_s: float, sigma: float) -> float:
    """A mean-reverting random walk (Ornstein-Uhlenbeck) around 0 with stationary spread ``sigma``."""
    keep = math.exp(-dt / tau_s)
    return x * keep + sigma * math.sqrt(1.0 - keep * keep) * z


@by_minute
def ambient_c(hour: float) -> float:
    """Plant-room temperature over a day: warmest in the afternoon."""
    return 22.0 + 5.0 * bump(hour, 15.0, 4.0)

"""Small pure helpers shared by the asset models: daily profiles, first-order lags, sensor read-outs.

Most work on a block of steps at once (numpy arrays, for the models' ``block``): a recurrence such as a
first-order lag or a random walk is a linear filter over the block. ``read`` is the one-step form the
elevator's event stepping uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

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


def read(value: float, z: float, sigma: float, decimals: int, floor: float | None = 0.0) -> float:
    """What a sensor reports: the true value plus Gaussian noise (``z`` ~ N(0, 1)), clipped at ``floor``,
    quantised to ``decimals`` decimal places (the sensor's resolution)."""
    noisy = value + z * sigma
    if floor is not None and noisy < floor:
        noisy = floor
    return round(noisy, decimals) + 0.0


@by_minute
def ambient_c(hour: float) -> float:
    """Plant-room temperature over a day: warmest in the afternoon."""
    return 22.0 + 5.0 * bump(hour, 15.0, 4.0)


# --- the same, over arrays: a block of steps at once --------------------------------------------------


def minute_table(profile: Callable[[float], float]) -> Array:
    """A daily profile sampled once per minute of the day (1440 values), for looking up whole arrays."""
    return np.array([profile(m / 60.0) for m in range(1440)])


def at_minutes(table: Array, t_s: Array) -> Array:
    """``table`` (from ``minute_table``) at local times ``t_s``."""
    return table[((t_s % DAY_S) // 60.0).astype(np.int64) % 1440]


def lag_series(x0: float, target: Array, dt: float, tau_s: float) -> Array:
    """A first-order lag stepped from ``x0`` towards each step's ``target`` with time constant ``tau_s``:
    ``x += (target - x) * (1 - exp(-dt / tau_s))`` each step."""
    a = math.exp(-dt / tau_s)
    out, _ = lfilter([1.0 - a], [1.0, -a], target, zi=[a * x0])
    return np.asarray(out, dtype=np.float64)


def wander_series(x0: float, z: Array, dt: float, tau_s: float, sigma: float) -> Array:
    """A mean-reverting random walk (Ornstein-Uhlenbeck) around 0 with stationary spread ``sigma``, stepped
    from ``x0`` with the normal draws ``z``."""
    keep = math.exp(-dt / tau_s)
    out, _ = lfilter([sigma * math.sqrt(1.0 - keep * keep)], [1.0, -keep], z, zi=[keep * x0])
    return np.asarray(out, dtype=np.float64)


def read_series(
    value: Array, z: Array, sigma: float | Array, decimals: int, floor: float | None = 0.0
) -> Array:
    """``read`` over arrays: noise, clipping at ``floor``, quantisation to ``decimals``."""
    noisy = value + z * sigma
    if floor is not None:
        noisy = np.maximum(noisy, floor)
    return np.round(noisy, decimals) + 0.0


AMBIENT = minute_table(ambient_c)

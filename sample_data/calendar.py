"""Holiday calendar and the hourly contact-volume model of the sample contact centre.

Why: a forecaster is only as good as the patterns it is shown. Volume here follows an
hour-of-day profile per channel, a weekday profile, a yearly wave, Chinese public holidays
(lower volume), the 618 and 11.11 shopping festivals (large peaks, then a wave of returns) and
a few unannounced incident days. The same holiday table is exported for the forecasting
models so they see what the generator planted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

CHANNELS = ("chat", "phone", "email")

# Public holidays for mainland China: for each year of _CN_PUBLIC_YEARS in order, the first day
# (month, day) and the length in days. Dates of the lunar holidays come from the official State
# Council schedules for those years.
_CN_PUBLIC_YEARS = range(2023, 2029)


def _every_year(month: int, day: int, length: int) -> tuple[tuple[int, int, int], ...]:
    return ((month, day, length),) * len(_CN_PUBLIC_YEARS)


_CN_PUBLIC_STARTS = {
    "new_year": _every_year(1, 1, 1),
    "spring_festival": ((1, 21, 7), (2, 10, 8), (1, 28, 8), (2, 15, 9), (2, 5, 8), (1, 25, 8)),
    "qingming": ((4, 5, 1), (4, 4, 3), (4, 4, 3), (4, 4, 3), (4, 3, 3), (4, 2, 3)),
    "labour_day": _every_year(5, 1, 5),
    "dragon_boat": ((6, 22, 3), (6, 10, 1), (5, 31, 3), (6, 19, 3), (6, 9, 3), (5, 28, 3)),
    "mid_autumn": ((9, 29, 1), (9, 15, 3), (10, 6, 1), (9, 25, 3), (9, 15, 3), (10, 3, 1)),
    "national_day": _every_year(10, 1, 7),
}
# (first day, length in days) of each public holiday, by name.
_CN_PUBLIC = {
    name: [(date(year, month, day), length) for year, (month, day, length) in zip(_CN_PUBLIC_YEARS, starts)]
    for name, starts in _CN_PUBLIC_STARTS.items()
}

# Shopping festivals: (month, day, days before, days after) around the peak day.
_FESTIVALS = {"618": (6, 18, 3, 1), "double_11": (11, 11, 3, 1)}
_FESTIVAL_PEAK = {"618": 2.4, "double_11": 3.6}
_HOLIDAY_FACTOR = 0.55
_RETURNS_WAVE_DAYS = 10


@dataclass(frozen=True)
class HolidayDay:
    day: date
    holiday: str
    kind: str  # "public" | "festival" | "returns_wave"
    factor: float


def holiday_calendar(start: date, end: date) -> list[HolidayDay]:
    """Every special day between ``start`` and ``end`` inclusive, with its volume factor."""
    days: dict[date, HolidayDay] = {}
    for name, spans in _CN_PUBLIC.items():
        for first, length in spans:
            for i in range(length):
                d = first + timedelta(days=i)
                if start <= d <= end:
                    days[d] = HolidayDay(d, name, "public", _HOLIDAY_FACTOR)
    for year in range(start.year, end.year + 1):
        for name, (month, mday, before, after) in _FESTIVALS.items():
            peak = date(year, month, mday)
            for offset in range(-before, after + 1):
                d = peak + timedelta(days=offset)
                ramp = _FESTIVAL_PEAK[name] if offset == 0 else 1.0 + (_FESTIVAL_PEAK[name] - 1.0) * 0.45
                if start <= d <= end:
                    days[d] = HolidayDay(d, name, "festival", ramp)
            for offset in range(after + 1, after + 1 + _RETURNS_WAVE_DAYS):
                d = peak + timedelta(days=offset)
                if start <= d <= end and d not in days:
                    decay = 1.0 + 0.6 * (1 - (offset - after - 1) / _RETURNS_WAVE_DAYS)
                    days[d] = HolidayDay(d, f"{name}_returns", "returns_wave", decay)
    return [days[d] for d in sorted(days)]


# Relative hourly load per channel (index = local hour 0..23).
_HOUR_PROFILE = {
    "phone": np.array([0.05, 0.03, 0.02, 0.02, 0.02, 0.04, 0.15, 0.45, 0.9, 1.25, 1.35, 1.3,
                       1.0, 1.1, 1.3, 1.25, 1.15, 1.0, 0.8, 0.65, 0.55, 0.4, 0.2, 0.1]),
    "chat": np.array([0.25, 0.15, 0.08, 0.05, 0.05, 0.08, 0.15, 0.35, 0.7, 1.0, 1.15, 1.15,
                      1.05, 1.05, 1.1, 1.1, 1.05, 1.0, 1.05, 1.2, 1.35, 1.3, 1.0, 0.55]),
    "email": np.array([0.3, 0.25, 0.2, 0.2, 0.2, 0.25, 0.4, 0.6, 0.9, 1.1, 1.1, 1.0,
                       0.9, 0.95, 1.0, 1.0, 0.95, 0.9, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4]),
}
_CHANNEL_SHARE = {"chat": 0.52, "phone": 0.36, "email": 0.12}
_WEEKDAY = np.array([1.12, 1.05, 1.0, 1.0, 0.98, 0.8, 0.72])  # Monday first


def hourly_intensity(start: date, days: int, seed: int) -> tuple[np.ndarray, dict[date, str]]:
    """Expected relative load, shape (days, 24, channels), and the incident days planted.

    Incidents are random outage days (about one in 60) where volume doubles in the hours
    after the outage starts; the forecaster cannot see them coming, as in real life.
    """
    rng = np.random.default_rng(seed + 101)
    end = start + timedelta(days=days - 1)
    special = {h.day: h for h in holiday_calendar(start, end)}
    out = np.zeros((days, 24, len(CHANNELS)))
    incidents: dict[date, str] = {}
    for i in range(days):
        d = start + timedelta(days=i)
        doy = d.timetuple().tm_yday
        season = 1.0 + 0.18 * np.sin(2 * np.pi * (doy - 80) / 365.25) + 0.08 * np.cos(4 * np.pi * doy / 365.25)
        factor = _WEEKDAY[d.weekday()] * season
        if d in special:
            factor *= special[d].factor
        hour_boost = np.ones(24)
        if rng.random() < 1 / 60:
            start_hour = int(rng.integers(8, 18))
            hour_boost[start_hour:start_hour + 5] = 2.6
            incidents[d] = f"outage from {start_hour:02d}:00"
        for c, channel in enumerate(CHANNELS):
            out[i, :, c] = _HOUR_PROFILE[channel] * _CHANNEL_SHARE[channel] * factor * hour_boost
    return out, incidents

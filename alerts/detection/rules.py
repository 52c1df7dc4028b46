"""Rules: readings of an asset in, findings out (pure; event time only).

Readings of one asset arrive as one ``Reading`` per channel with the same ``ts_ms``; the rules fuse the
latest value of every channel per asset and judge each asset once per timestamp against its profile
(alerts/detection/profile.py; the shipped ones in alerts/detection/profiles/). Every watch of the profile turns the
fused values into a signal (a channel, or a composite signal from ``SIGNALS`` below), feeds it to its
detector (score first, then learn — and a scoring detector does not learn while its own decision is
active, so a fault is not learned as the new normal) and decides with hysteresis and a minimum
duration. A finding is emitted when a condition starts (``active=True``) and when it clears
(``active=False``), never for every reading in between; several watches may raise the same finding kind
(an entrapment by load or by the alarm button): it starts with the first and clears with the last.

The composite signals and their reasoning are in docs/detectors.md; in short:
- ``entrapment``: the car stands still outside the door zone, doors closed, someone inside (load above
  ``ENTRAPMENT_LOAD_KG``); RED after ``ENTRAPMENT_HOLD_S``. ``alarm_entrapment``: the alarm button in a
  car stopped outside the door zone — RED at once.
- the elevator faults of Chinese elevator-IoT practice (docs/detectors.md, "Elevator faults"):
  ``landing_entrapment`` (平层困人; ``landing_alarm``: the same with the alarm button, at once),
  ``door_open_running`` (运行中开门), ``moving_doors_open`` (开门走车), ``stopped_outside_door_zone`` (门区外停梯),
  ``overtravel_top`` / ``overtravel_bottom`` (冲顶 / 蹲底). Each reads 0 while ``inspection_mode`` (检修) is
  set, as do the entrapments and ``door_idle``; ``service_floor`` (the out-of-service watch) is None then.
- ``burst``: a running pump's discharge pressure under half of rated while its flow surges past 120 %.
- ``dry_run``: a running pump drawing well under its rated current with almost no flow.
- ``cavitation``: suction pressure under 0.5 bar while water still moves.
- ``tripped``: a duty pump (not a standby one) that is not running.
- ``door_idle``: the door flag while the car stands still (-1 while it moves: a new stop, a new count).
- ``phase_loss``: the lowest phase voltage while at least one other phase is healthy; ``supply_voltage``:
  the mean phase voltage while every phase is live (sag and swell).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.detection.guard import ScalarWatch, VectorWatch
from alerts.detection.profile import Profile, Watch, load_profile
from alerts.detection.signals import SIGNALS, Values
from facwatch.errors import ConfigError
from facwatch.model import MACHINE_KINDS, Asset, AssetKind, Finding, Level, Reading, Site

ENTRAPMENT_KIND = "elevator.entrapment"
DROPOUT_KIND = "sensor.dropout"
LOCAL_HOUR = "local_hour"
"""A pseudo-channel every asset has: the site's local hour of the day, for ``when`` conditions."""
CARRIED = -1
"""In an active set: a condition carried over from before a restart, until a watch of it judges afresh."""
STEP_BACK_AFTER_MS = 3_000
"""Every reading of an asset late for this long in wall time: its clock stepped back (not a straggler)."""


def default_profiles() -> dict[AssetKind, Profile]:
    return {kind: load_profile(kind.value) for kind in MACHINE_KINDS}


def _active_sets() -> defaultdict[str, set[int]]:
    return defaultdict(set)


@dataclass
class AssetState:
    """What the rules know of one asset: everything here survives a restart through the checkpoint."""

    values: dict[str, float] = field(default_factory=dict)
    seen_ms: dict[str, int] = field(default_factory=dict)
    judged_ms: int = 0
    """When the asset was last judged (event time, never past the wall clock)."""
    watches: dict[int, ScalarWatch | VectorWatch | None] = field(default_factory=dict)
    active: defaultdict[str, set[int]] = field(default_factory=_active_sets)
    """Which watches of a finding kind are active: a kind clears when none is."""
    shift_ms: int = 0
    """The device's clock stepped back this far (a reboot): its readings are judged this much later, so that
    its event time continues from where it was; 0 again once its own clock has caught up."""
    behind_since_ms: int | None = None
    """Wall time since which every reading of the asset came late (None: the last one was fresh)."""
    behind_from_ms: int = 0
    """The (judged) time of the first of those late readings."""


class Rules:
    """The detector state of one site: fused latest values and one detector per (asset, watch)."""

    def __init__(
        self,
        site: Site,
        profiles: Mapping[AssetKind, Profile] | None = None,
        asset_profiles: Mapping[str, Profile] | None = None,
    ) -> None:
        """``profiles`` per asset kind (default: the shipped ones); ``asset_profiles`` override per asset id,
        as does an asset's own ``profile`` in the site file (loaded here, so a bad one fails at start-up)."""
        self.site = site
        self.profiles = dict(profiles) if profiles is not None else default_profiles()
        self.asset_profiles = dict(asset_profiles or {})
        loaded: dict[str, Profile] = {}
        for asset in site.assets:
            if asset.profile and asset.id not in self.asset_profiles:
                if asset.profile not in loaded:
                    loaded[asset.profile] = load_profile(asset.profile)
                profile = loaded[asset.profile]
                if profile.kind is not asset.kind:
                    raise ConfigError(f"asset {asset.id}: profile {asset.profile!r} is for a {profile.kind}")
                self.asset_profiles[asset.id] = profile
        self._assets: dict[str, AssetState] = defaultdict(AssetState)
        self._zone = ZoneInfo(site.timezone)
        self._offset_hour = -1
        self._offset_ms = 0
        self.late_readings = 0
        self.clock_steps = 0
        """Devices found with a clock that stepped back (their readings judged later from then on)."""
        self._fingerprints: dict[str, str] = {}
        """Readings ignored because their channel had already said something newer."""
        for asset in site.assets:  # build every detector now: a bad parameter fails at start-up
            chosen = self.profile_of(asset)
            for index, watch in enumerate(chosen.watches if chosen else ()):
                self._assets[asset.id].watches[index] = self._build(asset, watch, index)

    def profile_of(self, asset: Asset) -> Profile | None:
        return self.asset_profiles.get(asset.id) or self.profiles.get(asset.kind)

    def observe(self, readings: Iterable[Reading], now_ms: int | None = None) -> list[Finding]:
        """Findings that start or clear with these readings, in event-time order. ``now_ms`` is the
        batch's wall time: no reading moves a clock past it (None: the readings are taken as current)."""
        groups: dict[tuple[int, str], list[Reading]] = defaultdict(list)
        for reading in readings:
            if reading.site == self.site.id:
                ts_ms = reading.ts_ms + self._shift(reading)
                ts_ms = ts_ms if now_ms is None else min(ts_ms, now_ms)
                groups[(ts_ms, reading.asset)].append(reading)
        findings: list[Finding] = []
        for ts_ms, asset_id in sorted(groups):
            asset = self.site.asset(asset_id)
            profile = self.profile_of(asset) if asset is not None else None
            if asset is None or profile is None:
                continue
            state = self._assets[asset_id]
            fresh = False
            for reading in groups[(ts_ms, asset_id)]:
                if state.seen_ms.get(reading.channel, -1) >= ts_ms:
                    self.late_readings += 1  # this channel already said something as new or newer
                    continue
                state.values[reading.channel] = reading.value
                state.seen_ms[reading.channel] = ts_ms
                fresh = True
            if not fresh:
                if now_ms is not None:
                    self._behind(state, ts_ms, now_ms)
                continue
            state.behind_since_ms = None
            at_ms = state.judged_ms = max(ts_ms, state.judged_ms)
            state.values[LOCAL_HOUR] = self._local_hour(at_ms)
            findings.extend(self._judge(asset, profile, state, at_ms))
            findings.extend(self._dropouts(asset, profile, state, at_ms))
        return findings

    def _shift(self, reading: Reading) -> int:
        """How much later this asset's readings are judged (its clock stepped back); 0 once its clock has
        caught up with the event time it had reached."""
        state = self._assets.get(reading.asset)
        if state is None or not state.shift_ms:
            return 0
        if reading.ts_ms > state.judged_ms:
            state.shift_ms = 0
        return state.shift_ms

    def _behind(self, state: AssetState, ts_ms: int, now_ms: int) -> None:
        """Nothing of the asset was fresh at ``ts_ms``. One late message is a straggler (a redelivery) and is
        ignored; every reading late for ``STEP_BACK_AFTER_MS`` of wall time is a clock that stepped back, and
        waiting for it to catch up would blind the machine for as long: its event time continues instead."""
        if state.behind_since_ms is None or now_ms < state.behind_since_ms:
            state.behind_since_ms, state.behind_from_ms = now_ms, ts_ms
            return
        wall_ms = now_ms - state.behind_since_ms
        if wall_ms < STEP_BACK_AFTER_MS:
            return
        if not 0 < ts_ms - state.behind_from_ms <= 2 * wall_ms:
            # Not a live device on a clock set back (its time would advance with the wall's): a backlog
            # streamed behind newer readings, a frozen clock, or out of order. Ignored; watch afresh.
            state.behind_since_ms, state.behind_from_ms = now_ms, ts_ms
            return
        state.shift_ms += state.judged_ms - ts_ms + 1
        state.behind_since_ms = None
        self.clock_steps += 1

    # --- state that survives a restart (alerts/engine/checkpoint.py) -------------------------------------

    def state(self) -> dict[str, AssetState]:
        """The live state of every asset (pickle it while no batch is judged, for a consistent copy)."""
        return dict(self._assets)

    def fingerprint(self, asset: Asset) -> str:
        """What an asset's detectors were built from: a restored state fits only the same profile."""
        known = self._fingerprints.get(asset.id)
        if known is None:
            text = repr((self.profile_of(asset), sorted(asset.rated.items())))
            known = self._fingerprints[asset.id] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return known

    def restore(self, states: Mapping[str, tuple[str, AssetState]]) -> list[str]:
        """Take ``{asset: (fingerprint, state)}`` for the assets whose fingerprint still matches; the
        ids of those taken."""
        taken: list[str] = []
        for asset in self.site.assets:
            saved = states.get(asset.id)
            if saved is not None and saved[0] == self.fingerprint(asset):
                self._assets[asset.id] = saved[1]
                taken.append(asset.id)
        return taken

    def judged_ms(self, asset_id: str) -> int:
        """When the asset was last judged (0: never, since start or restore)."""
        state = self._assets.get(asset_id)
        return 0 if state is None else state.judged_ms

    def kinds(self, asset: Asset) -> frozenset[str]:
        """The finding kinds the rules raise for this asset."""
        profile = self.profile_of(asset)
        if profile is None:
            return frozenset()
        dropout = {DROPOUT_KIND} if profile.dropout_after_s is not None else set()
        return frozenset({w.finding for w in profile.watches} | dropout)

    def active_kinds(self, asset_id: str) -> frozenset[str]:
        state = self._assets.get(asset_id)
        if state is None:
            return frozenset()
        return frozenset(key.split(":", 1)[0] for key, members in state.active.items() if members)

    def assume_active(self, asset: Asset, kind: str) -> None:
        """Carry a firing condition over a restart: the next judgement that finds it over clears it."""
        profile = self.profile_of(asset)
        if profile is None or kind not in self.kinds(asset):
            return
        state = self._assets[asset.id]
        if kind == DROPOUT_KIND:
            for channel in profile.dropout_channels:
                state.active[f"{DROPOUT_KIND}:{channel}"].add(CARRIED)
        else:
            state.active[kind].add(CARRIED)

    # --- judging -----------------------------------------------------------------------------------------

    def _local_hour(self, ts_ms: int) -> float:
        """The hour of the day (0-24, fractional) at the site, for watches that hold only by day."""
        hour_key = ts_ms // 3_600_000
        if hour_key != self._offset_hour:
            offset = datetime.fromtimestamp(ts_ms / 1000, self._zone).utcoffset()
            self._offset_ms = int(offset.total_seconds() * 1000) if offset is not None else 0
            self._offset_hour = hour_key
        return ((ts_ms + self._offset_ms) % 86_400_000) / 3_600_000

    def _judge(self, asset: Asset, profile: Profile, state: AssetState, ts_ms: int) -> list[Finding]:
        out: list[Finding] = []
        values = state.values
        for index, watch in enumerate(profile.watches):
            if not all(c.holds(asset, values) for c in watch.when):
                continue
            ws = state.watches.get(index)
            if ws is None:
                continue  # the asset lacks a rated value this watch needs
            if isinstance(ws, VectorWatch):
                vector = self._vector(watch, values)
                if vector is None:
                    continue
                ws.step(vector, ts_ms)
                signal: float | None = None
            else:
                signal = self._scalar(watch, asset, values)
                if signal is None:
                    continue
                ws.step(signal, ts_ms)
            active_set = state.active[watch.finding]
            was_active = bool(active_set)
            active_set.discard(CARRIED)  # judged afresh
            if ws.active:
                active_set.add(index)
            else:
                active_set.discard(index)
            if bool(active_set) != was_active:
                out.append(self._finding(asset, watch, ts_ms, bool(active_set), values, signal, ws))
        return out

    @staticmethod
    def _build(asset: Asset, watch: Watch, index: int) -> ScalarWatch | VectorWatch | None:
        """The watch's detector for this asset; None when the asset lacks a rated value the watch needs."""
        try:
            return watch.build(asset)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"asset {asset.id}: watch {index + 1} ({watch.finding}): {exc}") from exc

    @staticmethod
    def _vector(watch: Watch, values: Values) -> Sequence[float] | None:
        if not isinstance(watch.signal, tuple) or not all(c in values for c in watch.signal):
            return None
        return [values[c] for c in watch.signal]

    @staticmethod
    def _scalar(watch: Watch, asset: Asset, values: Values) -> float | None:
        if isinstance(watch.signal, tuple):
            return None
        composite = SIGNALS.get(watch.signal)
        return composite(asset, values) if composite is not None else values.get(watch.signal)

    def _dropouts(self, asset: Asset, profile: Profile, state: AssetState, ts_ms: int) -> list[Finding]:
        """A profile channel silent for ``dropout_after_s`` while the asset reports others."""
        if profile.dropout_after_s is None:
            return []
        out: list[Finding] = []
        for channel in profile.dropout_channels:
            seen = state.seen_ms.get(channel)
            if seen is None:
                continue
            key = f"{DROPOUT_KIND}:{channel}"
            silent = (ts_ms - seen) / 1000 >= profile.dropout_after_s
            was = bool(state.active[key])
            state.active[key].discard(CARRIED)
            if silent != was:
                state.active[key] = {0} if silent else set()
                summary = f"Sensor dropout: no {channel} for {profile.dropout_after_s:.0f} s"
                out.append(
                    Finding(
                        site=self.site.id,
                        asset=asset.id,
                        kind=DROPOUT_KIND,
                        ts_ms=ts_ms,
                        active=silent,
                        level=Level.BLUE,
                        summary=summary if silent else f"Cleared: {summary[0].lower()}{summary[1:]}",
                        channel=channel,
                        value=None,
                        detail={"last_seen_ms": float(seen)},
                    )
                )
        return out

    def _finding(
        self,
        asset: Asset,
        watch: Watch,
        ts_ms: int,
        active: bool,
        values: Values,
        signal: float | None,
        ws: ScalarWatch | VectorWatch,
    ) -> Finding:
        summary = watch.summary if active else f"Cleared: {watch.summary[0].lower()}{watch.summary[1:]}"
        channel = watch.channel if watch.channel in values else None
        detail: dict[str, float] = dict(values)
        prediction = ws.prediction
        if active and prediction is not None:
            # numbers only: the channel the prediction is about is the finding's own ``channel``
            detail.update(
                predicted_at_ms=float(prediction.predicted_at_ms),
                limit=prediction.limit,
                slope_per_day=prediction.slope_per_day,
                level=prediction.level,
            )
            in_h, low_h, high_h = prediction.hours()
            detail.update(limit_in_h=in_h, limit_in_h_low=low_h, limit_in_h_high=high_h)
            summary = f"{watch.summary}: {watch.channel} predicted to reach {prediction.limit:g}"
        value = values.get(channel) if channel else signal
        return Finding(
            site=self.site.id,
            asset=asset.id,
            kind=watch.finding,
            ts_ms=ts_ms,
            active=active,
            level=watch.level_for(asset),
            summary=summary,
            channel=channel,
            value=value,
            detail=detail,
        )

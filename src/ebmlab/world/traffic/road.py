"""The road: a straight highway segment shaped like I-80's study area in NGSIM (six lanes), 10 Hz.

Coordinates are metres: x along the road (0 where cars enter, the segment ends at
``length``), y across it (0 at the left edge, lane k's centre at (k + ½)·lane_width).
Beyond the segment the road goes on for ``runout`` metres, where a downstream
bottleneck sets the traffic's pace (a slow zone whose speed varies in time,
lane by lane: congestion comes from downstream, as on I-80 in the afternoon
peak) before cars leave.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Road"]


@dataclass(frozen=True)
class Road:
    lanes: int = 6
    lane_width: float = 3.7
    length: float = 400.0  # the segment an ego car must drive through
    runout: float = 120.0  # road past the segment: the bottleneck, then the exit
    dt: float = 0.1  # 10 Hz, as NGSIM and PPUU

    @property
    def width(self) -> float:
        return self.lanes * self.lane_width

    @property
    def end(self) -> float:
        """Where cars leave the simulation."""
        return self.length + self.runout

    def lane_centre(self, lane):
        return (lane + 0.5) * self.lane_width

    def lane_of(self, y):
        """The lane whose band holds lateral position y (a tensor), clamped to the road."""
        return (y / self.lane_width).floor().clamp(0, self.lanes - 1).long()

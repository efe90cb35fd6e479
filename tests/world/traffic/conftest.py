import pytest

from ebmlab.world.traffic.recording import record_traffic
from ebmlab.world.traffic.simulator import TrafficConfig


@pytest.fixture(scope="session")
def small_recording():
    """Two simulations recorded for 150 s after a 30 s warm-up (about 2 s to make)."""
    return record_traffic(TrafficConfig(warmup=30.0), envs=2, seconds=150, seed=3)

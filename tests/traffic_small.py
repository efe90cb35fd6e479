"""Small traffic situations for the tests: one environment holding exactly the cars a test builds."""

from ebmlab.world.traffic.simulator import TrafficConfig


def lone_traffic(cars, slots=8, **changes):
    """A one-environment simulation holding exactly ``cars`` (dicts of x, lane, v, and optionally any driver
    parameter), drivers without noise, nothing entering."""
    from ebmlab.world.traffic.drivers import DriverMix
    from ebmlab.world.traffic.simulator import COL, Traffic

    config = TrafficConfig(slots=slots, inflow=1e-9, drivers=DriverMix(accel_noise=0.0), **changes)
    traffic = Traffic(config, batch=1, seed=0, warmup=False)
    traffic.alive[:] = False
    for i, car in enumerate(cars):
        row = traffic.cars[0, i]
        row[COL["lane"]] = car["lane"]
        row[COL["y"]] = config.road.lane_centre(float(car["lane"]))
        row[COL["x"]], row[COL["v"]], row[COL["psi"]] = car["x"], car["v"], 0.0
        row[COL["since_change"]] = 100.0
        for name in DriverMix.FIELDS:
            if name in car:
                row[COL[name]] = car[name]
        traffic.alive[0, i] = True
        traffic.car_id[0, i] = i
    return traffic


def run(traffic, steps, ego_action=None):
    for _ in range(steps):
        traffic.step(ego_action)
    return traffic

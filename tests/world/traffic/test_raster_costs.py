"""The rasteriser puts cars where they are; the image costs are zero on an empty road and rise as a car nears."""

import torch

from ebmlab.world.driving.kinematic_ego import shift_views
from ebmlab.world.traffic.image_costs import (
    EGO_LENGTH,
    EGO_WIDTH,
    image_costs,
    profile_costs,
    proximity_mask,
    proximity_window,
)
from ebmlab.world.traffic.raster import CHANNELS, HEIGHT, SCALE, WIDTH, rasterise, road_channels
from ebmlab.world.traffic.road import Road

ROAD = Road()


def _view(ego_y=ROAD.lane_centre(2), cars=()):
    """One image: the ego car at x = 100, ``cars`` = [(dx, dy)] around it (4.5 × 1.8 m each)."""
    n = max(len(cars), 1)
    others = {
        "x": torch.tensor([[100.0 + dx for dx, _ in cars] or [0.0]]),
        "y": torch.tensor([[ego_y + dy for _, dy in cars] or [0.0]]),
        "length": torch.full((1, n), 4.5),
        "width": torch.full((1, n), 1.8),
        "present": torch.tensor([[True] * len(cars) or [False]]),
    }
    ego = {
        "x": torch.tensor([100.0]),
        "y": torch.tensor([ego_y]),
        "length": torch.tensor([4.5]),
        "width": torch.tensor([1.8]),
    }
    return rasterise(ego, others, ROAD)


def _centre(channel):
    rows, cols = torch.meshgrid(torch.arange(HEIGHT) + 0.5, torch.arange(WIDTH) + 0.5, indexing="ij")
    mass = channel.sum()
    return float((channel * rows).sum() / mass), float((channel * cols).sum() / mass), float(mass)


def test_cars_are_drawn_where_they_are():
    assert _view().shape == (1, len(CHANNELS), HEIGHT, WIDTH)
    for dx, dy in [(10.0, 0.0), (-20.0, 3.7), (25.3, -3.7), (0.0, 3.7)]:
        image = _view(cars=[(dx, dy)])[0]
        row, col, mass = _centre(image[1])
        assert abs(row - (HEIGHT / 2 - dx * SCALE)) < 0.02  # ahead is up (float32: within 1 cm)
        assert abs(col - (WIDTH / 2 + dy * SCALE)) < 0.02  # right is right
        assert abs(mass - 4.5 * 1.8 * SCALE**2) < 1e-2  # its area, in pixels
    ego_row, ego_col, _ = _centre(_view()[0, 2])
    assert abs(ego_row - HEIGHT / 2) < 1e-3 and abs(ego_col - WIDTH / 2) < 1e-3
    assert float(_view(cars=[(60.0, 0.0)])[0, 1].sum()) == 0.0  # out of view: not drawn


def test_lanes_and_offroad_follow_the_ego_position():
    centre = _view(ego_y=ROAD.lane_centre(0))[0]
    edge_col = WIDTH / 2 - ROAD.lane_centre(0) * SCALE  # the road's left edge, in pixels
    off = centre[3, 0]  # the same on every row
    assert float(off[: int(edge_col) - 1].min()) == 1.0 and float(off[int(edge_col) + 1 :].max()) == 0.0
    marks = _view()[0, 0, 0]
    assert int((marks > 0).sum()) >= 4  # lane lines on both sides of the ego car


def test_costs_zero_on_an_empty_road_and_rise_as_a_car_comes_near():
    speed = torch.tensor([10.0])
    empty = image_costs(_view(), speed)
    assert all(float(v) == 0.0 for v in empty.values())
    proximity = [float(image_costs(_view(cars=[(dx, 0.0)]), speed)["proximity"]) for dx in (22.0, 14.0, 10.0, 6.0)]
    assert proximity[0] == 0.0  # 1.5·v + 1 m past the bumpers: no cost
    assert all(b > a for a, b in zip(proximity, proximity[1:]))  # rises as it nears
    assert proximity[-1] > 0.5
    slow = float(image_costs(_view(cars=[(14.0, 0.0)]), torch.tensor([2.0]))["proximity"])
    assert slow == 0.0  # the safe distance shrinks with speed
    drift = [float(image_costs(_view(ego_y=ROAD.lane_centre(2) + d), speed)["lane"]) for d in (0.0, 0.6, 1.2)]
    assert drift[0] == 0.0 and drift[1] > 0.0 and drift[2] > drift[1]
    assert float(image_costs(_view(ego_y=0.2), speed)["offroad"]) > 0.5


def test_costs_are_differentiable_in_the_image():
    image = _view(cars=[(8.0, 0.5)]).requires_grad_()
    costs = image_costs(image, torch.tensor([10.0]))
    (costs["proximity"] + costs["lane"]).sum().backward()
    assert image.grad[0, 1].abs().sum() > 0


def test_costs_from_the_road_profiles_equal_the_image_costs_gradients_included():
    y = torch.tensor([ROAD.lane_centre(2) + 0.8, ROAD.lane_centre(0) - 1.2, 0.4], requires_grad=True)  # off centre
    cars = torch.rand(3, 2, HEIGHT, WIDTH, requires_grad=True)  # B×K cars channels
    speed = torch.tensor([[3.0, 9.0], [0.0, 5.0], [12.0, 1.0]])
    lanes, offroad = road_channels(y, ROAD)
    images = torch.stack(
        [lanes[:, None, None].expand(3, 2, HEIGHT, WIDTH), cars, torch.zeros_like(cars),
         offroad[:, None, None].expand(3, 2, HEIGHT, WIDTH)], 2,
    )  # fmt: skip
    full, fast = image_costs(images, speed), profile_costs(cars, lanes[:, None], offroad[:, None], speed)
    assert fast["lane"].abs().sum() > 0 and fast["offroad"].abs().sum() > 0  # the positions chosen pay both
    for key in ("proximity", "lane", "offroad"):
        assert torch.equal(full[key], fast[key]), key
    grads = [
        torch.autograd.grad(sum(c.sum() for c in co.values()), (y, cars), retain_graph=True) for co in (full, fast)
    ]
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_planners_window_holds_every_pixel_the_proximity_mask_sees_and_gives_the_same_costs():
    speed = torch.tensor([[0.0, 4.0], [11.0, 2.0]])
    rows, cols = proximity_window(speed)
    mask = proximity_mask(speed, torch.full_like(speed, EGO_LENGTH), torch.full_like(speed, EGO_WIDTH))
    outside = mask.clone()
    outside[..., rows, cols] = 0
    assert float(outside.abs().max()) == 0 and float(mask[..., rows, cols].amax((-2, -1)).min()) == 1
    assert rows.stop - rows.start < HEIGHT and cols.stop - cols.start < WIDTH  # a window, not the whole view
    slow_rows, _ = proximity_window(torch.tensor([1.0]))
    assert slow_rows.stop - slow_rows.start < rows.stop - rows.start  # it grows with the fastest car's speed
    images = torch.rand(2, 2, HEIGHT, WIDTH)
    dx, dy = torch.tensor([1.3, -7.0], requires_grad=True), torch.tensor([0.4, -0.9], requires_grad=True)
    y = torch.tensor([ROAD.lane_centre(1) + 0.5, ROAD.lane_centre(4)])
    lanes, offroad = road_channels(y, ROAD)
    full = profile_costs(shift_views(images, dx, dy), lanes[:, None], offroad[:, None], speed)
    seen = profile_costs(
        shift_views(images, dx, dy, (rows, cols)), lanes[:, None], offroad[:, None], speed, (rows, cols)
    )
    for key in ("proximity", "lane", "offroad"):
        assert torch.equal(full[key], seen[key]), key
    grads = [torch.autograd.grad(sum(c.sum() for c in co.values()), (dx, dy)) for co in (full, seen)]
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6)

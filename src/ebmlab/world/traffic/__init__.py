"""A vectorised highway traffic simulator for learning to drive in dense traffic (no learning in it).

After the setting of Henaff, Canziani & LeCun (ICLR 2019, "Model-predictive
policy learning with uncertainty regularization for driving in dense
traffic", PPUU), whose data (NGSIM I-80) cannot be downloaded here: a straight
six-lane segment shaped like I-80's study area, simulated in torch over many
independent environments at once (batch × cars tensors), with drivers that
follow IDM and change lanes by MOBIL.

- :mod:`road`        the segment's geometry and time step
- :mod:`drivers`     IDM car-following and MOBIL lane changes, per-driver parameters
- :mod:`kinematics`  the bicycle-free kinematics every car moves by (PPUU's)
- :mod:`simulator`   the batched traffic state and its step (entry, exit, ego car)
- :mod:`raster`      ego-centred images of the traffic, vectorised over environments and cars
- :mod:`image_costs` proximity, lane and off-road costs computed from images (differentiable)
- :mod:`recording`   recorded traffic (states and actions of every car), split by car
- :mod:`episodes`    batched ego episodes over recorded traffic (replay or reactive) and their events
- :mod:`gym_env`     the gymnasium environment and a stable-baselines3 vectorised form
- :mod:`render`      animated episodes and the time-space speed diagram
"""

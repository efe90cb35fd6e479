"""Learning to drive in dense traffic (PPUU) on :mod:`ebmlab.world.traffic`: runs that record traffic, forward
models of ego-centred views, policies trained through them, and PPUU's evaluation."""

"""The options of a world-model run small enough for a test (seconds): Pendulum-v1, 90 steps, tiny networks."""

SMALL = ["world", "train", "--env", "Pendulum-v1", "--env-steps", "90", "--seed-steps", "30",
         "--max-episode-steps", "30", "--fit-steps", "20", "--hidden", "32", "--layers", "2", "--horizon", "5",
         "--mpc-first-iterations", "5", "--mpc-iterations", "2", "--restarts", "2", "--cem-population", "20",
         "--cem-elites", "4", "--cem-iterations", "2", "--policy-steps", "5", "--batch-size", "32",
         "--eval-every", "60", "--eval-episodes", "1", "--ensemble", "2"]

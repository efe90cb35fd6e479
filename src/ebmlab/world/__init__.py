"""World models for control: environments, known costs, forward models, planners and policies."""

"""The clone job (seed 000): plan, apply, knowledge, history. Built up issue by issue."""

"""Example tool endpoints, standing in for an operator's own (docs/tools.md)."""

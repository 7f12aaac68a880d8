"""Experiments: each turns a config into tidy tables in a run directory."""

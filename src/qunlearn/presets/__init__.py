"""The presets as TOML files: paper.toml (the paper's settings, both datasets) and quick.toml (laptop sizes)."""

"""One module per paper: its Config dataclass (defaults = smoke profile) and the glue the notebooks call."""

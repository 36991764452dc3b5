"""labeltui: find label mistakes in a model run from the terminal."""

__version__ = "0.1.0"

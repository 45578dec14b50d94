"""int8rt: an int8 inference runtime for edge CPUs."""

__version__ = "0.1.0"

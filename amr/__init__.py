"""amr: drive-by wireless M-Bus meter reading, from radio to billing."""

__version__ = "0.1.0"

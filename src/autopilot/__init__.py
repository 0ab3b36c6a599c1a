"""autopilot: an autonomous, auditable experiment loop."""

__version__ = "0.1.0"

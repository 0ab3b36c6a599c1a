"""autopilot: an autonomous, auditable experiment loop."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``autopilot.open`` and ``autopilot.Study`` (autopilot/api.py), imported on first use: ``import autopilot``
    # stays light for trainers and the CLI.
    if name in ("open", "Study"):
        from autopilot import api

        return getattr(api, name)
    raise AttributeError(f"module 'autopilot' has no attribute {name!r}")

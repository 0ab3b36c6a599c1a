"""autopilot: an autonomous, auditable experiment loop."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see; at run time the API is imported on first use (below)
    from autopilot.api import Study, open

__all__ = ["Study", "__version__", "open"]


def __getattr__(name: str) -> object:
    # ``autopilot.open`` and ``autopilot.Study`` (autopilot/api.py), imported on first use: ``import autopilot``
    # stays light for trainers and the CLI.
    if name in ("open", "Study"):
        from autopilot import api

        return getattr(api, name)
    raise AttributeError(f"module 'autopilot' has no attribute {name!r}")

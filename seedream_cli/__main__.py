"""``python -m seedream_cli`` is the ``seedream`` command."""

from .main import entry

entry()

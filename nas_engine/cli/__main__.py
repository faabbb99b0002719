"""``python -m nas_engine.cli``."""

from nas_engine.cli import main

main()

"""``python -m face01d`` is the ``face01d`` command."""

from face01d.cli import main

main()

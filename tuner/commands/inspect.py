"""Placeholder while the commands of this area are written (see the issue in progress)."""

COMMANDS: list = []

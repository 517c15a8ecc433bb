"""The ``tuner`` commands, one module per area; each lists its click commands in ``COMMANDS``.

Modules import only click and light helpers at the top: the work happens in the
library modules each command calls, imported inside the command.
"""

"""The face: the ``tuner`` command line and what it prints.

``main`` is the root group (the console entry point); one module per area of commands
(``search``, ``inspect``, ``shipping``, ``cluster``, ``ui``), each listing its click commands
in ``COMMANDS``; ``options`` holds the options several commands share, ``tables`` the
terminal tables, ``process_tree`` the foreground server tree of ``tuner ui``. Commands
stay thin: they import the work inside the command, so ``tuner --help`` answers at once.

May import: jobs, views, engines, shipping, networks, tracking, and the modules at tuner's top.
"""

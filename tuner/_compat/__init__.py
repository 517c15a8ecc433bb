"""The private names of other libraries that tuner relies on, one module per library.

Kept together so they are easy to watch: each is checked by a test that fails when its
library moves, renames or re-signs what tuner reaches into (tests/_compat/).

May import: the modules at tuner's top.
"""

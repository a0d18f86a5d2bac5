"""Preloaded into a daemon group by a test: the process dies at once, as
one whose application cannot start would."""
import os

os._exit(3)

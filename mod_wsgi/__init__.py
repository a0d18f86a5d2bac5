"""mod_wsgi: an Apache module that hosts Python WSGI applications.

This package holds the compiled Apache module (in mod_wsgi.server) built
for the Python that installed it, and the mod_wsgi-express command.
"""

__version__ = "0.1.0"

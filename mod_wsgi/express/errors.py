"""The errors mod_wsgi-express reports to its user: one message each, that
says what is wrong and what to do, printed without a traceback."""


class ExpressError(Exception):
    """Base of every error mod_wsgi-express reports in one line."""


class SetupError(ExpressError):
    """The options contradict each other or do not fit this system."""


class ConfigValueError(ExpressError, ValueError):
    """A value that cannot be written into httpd.conf safely."""

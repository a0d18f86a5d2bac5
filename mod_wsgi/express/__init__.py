"""mod_wsgi-express: run a private Apache for one WSGI application."""

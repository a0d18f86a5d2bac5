"""Django app configuration: with "mod_wsgi.express" in INSTALLED_APPS,
`python manage.py runmodwsgi` serves the project with mod_wsgi-express."""

from django.apps import AppConfig


class ExpressConfig(AppConfig):
    name = "mod_wsgi.express"
    label = "mod_wsgi_express"
    verbose_name = "mod_wsgi-express"

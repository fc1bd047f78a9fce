"""WSGI entry point: `waitress-serve wsgi:app` or `ep serve`."""

from ep import create_app

app = create_app()

"""The WSGI entry point for servers: `widgetapi.wsgi:app` (waitress, gunicorn, ...).
Run `widgetapi init-db` once before starting processes on a new database."""
from widgetapi.app import create_app
from widgetapi.config import Config

app = create_app(Config.from_env())

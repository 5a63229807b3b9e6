"""widgetapi: a JWT-authenticated REST API for widgets."""
from importlib import metadata

try:
    __version__ = metadata.version("widgetapi")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

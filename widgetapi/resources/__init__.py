"""Falcon resources, one module per family of routes."""

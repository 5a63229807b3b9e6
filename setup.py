"""Packaging; the metadata lives in setup.cfg.

The OpenAPI spec lives at the top of the repository, where people look for it,
and the app reads it at run time, so the build copies it into the package.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithSpec(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the source file
            return
        target = Path(self.build_lib, "widgetapi", "openapi.yaml")
        self.copy_file("openapi.yaml", str(target))


setup(cmdclass={"build_py": BuildWithSpec})

"""Build hook (the project is described in pyproject.toml): the RGAA audit kept in
docs/accessibilite.md ships inside the package as ep/data/accessibilite.md, where the
accessibility statement reads it once installed (ep/accessibility.py). A source checkout
or an editable install reads docs/accessibilite.md itself."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

AUDIT = Path(__file__).parent / "docs" / "accessibilite.md"


class BuildPy(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "ep" / "data" / "accessibilite.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(AUDIT, target)


setup(cmdclass={"build_py": BuildPy})

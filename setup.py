"""Build hook: ship the labs (labs/) inside the wheel as `jwtlab/_labs`, so `jwtlab init` works outside a checkout.

A src-layout package cannot list ../labs as package data and a symlink is not portable, so the folder
is copied into the build tree; everything else about the build lives in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LABS = Path(__file__).resolve().parent / "labs"
SKIP = shutil.ignore_patterns("work", "__pycache__", ".pytest_cache", "*.pyc")


class BuildPyWithLabs(build_py):
    def run(self) -> None:
        super().run()
        if LABS.is_dir():
            shutil.copytree(LABS, Path(self.build_lib) / "jwtlab" / "_labs", ignore=SKIP, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithLabs})

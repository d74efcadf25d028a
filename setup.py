"""The wheel ships the app, never its tests: setuptools' package discovery cannot leave out
single modules, so the two test-only modules at the package root are dropped here (the test
packages themselves are excluded in pyproject.toml)."""

from setuptools import setup
from setuptools.command.build_py import build_py

TEST_ONLY_MODULES = {("lifelong", "conftest"), ("lifelong", "factories")}


class BuildPyWithoutTests(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if (m[0], m[1]) not in TEST_ONLY_MODULES]


setup(cmdclass={"build_py": BuildPyWithoutTests})

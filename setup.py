"""charword: a TFX pipeline for hybrid character+word text models."""
from setuptools import find_packages, setup

setup(
    name="charword",
    version="0.1.0",
    description="TFX pipeline that trains hybrid character+word text models and pushes only validated ones.",
    python_requires=">=3.10,<3.11",
    # Everything the pipeline, its components and the CLI import; not the tests, benchmarks
    # and the standalone runs of Transform and run_fn (tests/test_layering.py checks the list against the imports).
    packages=find_packages(include=["charword*", "preprocessing*", "embeddings*", "trainer*", "pipeline*",
                                    "components*", "serving*", "cli*"]),
    package_data={"charword": ["demo_data/*.csv"]},
    # Dependencies are pinned in requirements.lock (resolved with uv); see docs/development.md.
    install_requires=[],
    entry_points={"console_scripts": ["charword=cli.main:main"]},
)

"""What goes into the wheel. Project metadata is in pyproject.toml; only the package layout is here.

``loadprofiles/`` and ``deploy/`` stay at the top of the repository, where users look for them, and ship
inside the package (``harness/loadprofiles``, ``harness/deploy``) because an installed wheel has no
repository around it (harness/_shipped.py finds them in either place). pyproject.toml alone cannot map
a top-level folder into a found package, hence this file.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["harness*"]), "harness.loadprofiles", "harness.deploy",
              "harness.deploy.locust"],
    package_dir={"harness.loadprofiles": "loadprofiles", "harness.deploy": "deploy"},
    package_data={
        "harness.sandbox": ["demo/*.yaml", "demo/istio/*.yaml"],
        "harness.report": ["templates/*"],  # report.html's Jinja2 template and stylesheet
        # only the manifests the code reads: the sandbox grants access from rbac.yaml, pods run from locust/
        "harness.deploy": ["rbac.yaml", "prometheus/*.yml"],  # the sandbox's example alert rules
        "harness.deploy.locust": ["*.yaml"],
    },
)

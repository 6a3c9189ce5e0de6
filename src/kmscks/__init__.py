"""cks: AWS KMS custom key stores, locally.

Top-level package. Subpackages are layered (see docs/architecture.md):
api -> service -> store/connectors; xksproxy, cloudhsm and cli stand beside them.
This module must stay import-free beyond os and sys: every `cks kms` run loads it.
"""

import os
import sys

# The one place the version is written. pyproject.toml repeats it for the package metadata; a
# test (tests/cli/test_version.py) fails when the two differ. Reading the metadata at run time
# instead would cost `cks kms` the ~20-40 ms of importing importlib.metadata.
__version__ = "0.1.0"


def version_string() -> str:
    """What every `--version` prints, in the AWS CLI's layout
    (`aws-cli/2.33.31 Python/3.11.7 Linux/6.1.0 source/x86_64`): `cks/<version> Python/<x.y.z>
    <system>/<release> source/<machine>`. Also the `cks kms` User-Agent."""
    uname = os.uname()
    python = ".".join(str(part) for part in sys.version_info[:3])
    return (
        f"cks/{__version__} Python/{python} {uname.sysname}/{uname.release} source/{uname.machine}"
    )

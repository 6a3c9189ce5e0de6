"""cks: AWS KMS custom key stores, locally.

Top-level package. Subpackages are layered (see docs/architecture.md):
api -> service -> store/connectors; xksproxy, cloudhsm and cli stand beside them.
"""

__version__ = "0.1.0"

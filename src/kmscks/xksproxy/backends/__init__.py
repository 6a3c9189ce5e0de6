"""Key backends of the XKS proxy (layer: xksproxy/backends).

One small interface (`base.KeyBackend`), two implementations: `software` (AES keys kept
wrapped in the data directory) and `pkcs11` (keys in a PKCS#11 token, found by label).
Backends know nothing of HTTP, JSON or SigV4; they raise kmscks.xksproxy.errors exceptions.
"""

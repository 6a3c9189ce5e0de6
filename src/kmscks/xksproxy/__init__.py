"""The bundled XKS proxy: `cks xks-proxy` (layer: xksproxy, a separate server).

It implements the External Key Store proxy API v1.0.3 (../shared/contract/xks-proxy.md) in
front of two key backends (software keys, or a PKCS#11 token such as SoftHSM2).

Module map, dependencies pointing down:

    cli -> init (config writer), httpserver -> app -> operations -> backends -> aead
                                              app -> config, errors; kmscks.sigv4

Nothing here imports kmscks.api, kmscks.service or kmscks.store: the proxy is its own server
and talks to the KMS side only over HTTP.
"""

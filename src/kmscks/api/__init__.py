"""api layer: HTTP and AWS JSON 1.1.

Turns requests into operation calls and results or errors into bytes: target routing, SigV4
verification, model-driven validation and serialization. Knows nothing of SQL, HSMs or proxies;
must not import kmscks.store or kmscks.connectors.
"""

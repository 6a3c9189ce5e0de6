"""connectors layer: what Create, Update and Connect talk to (XKS proxies, VPC endpoint
services, CloudHSM clusters).

Each outcome maps to an exception or a ConnectionErrorCode in one table per connector. Must not
import kmscks.api or kmscks.store.
"""

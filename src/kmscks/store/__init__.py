"""store layer: persistence of custom key stores behind one interface (SQLite and PostgreSQL).

State changes are conditional updates, so several server processes on one database stay
correct. No in-memory dict is ever the source of truth. Must not import kmscks.api,
kmscks.service or kmscks.connectors.
"""

from kmscks.store.records import StoreRecord
from kmscks.store.sql import SqlStore, open_store

__all__ = ["SqlStore", "StoreRecord", "open_store"]

"""service layer: the behaviour of the custom key store operations, in pure Python.

One method per operation, the connection state machine as a table, business rules and ids.
Raises model-named ServiceErrors; never builds bytes. Must not
import kmscks.api.
"""

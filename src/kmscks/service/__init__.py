"""service layer: the behaviour of the custom key store operations, in pure Python.

One coroutine per operation (registered with @serves, declared in served.py), the connection
state machine as a table, business rules and ids. Raises model-named ServiceErrors; never builds
bytes. Must not import kmscks.api.
"""

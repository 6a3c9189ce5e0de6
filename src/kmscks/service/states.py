"""The connection state machine, as tables (../shared/contract/kms-custom-key-stores.md §5).

service layer. Which operation may run in which ConnectionState, and what it starts.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    FAILED = "FAILED"
    DISCONNECTING = "DISCONNECTING"


NO_CHANGE = None

# Connect: state -> the transient state it starts, or NO_CHANGE (answers {} and does nothing).
# CONNECTING and CONNECTED follow the API Reference (contract §5 note 1); FAILED and
# DISCONNECTING are invalid.
CONNECT: dict[State, State | None] = {
    State.DISCONNECTED: State.CONNECTING,
    State.CONNECTING: NO_CHANGE,
    State.CONNECTED: NO_CHANGE,
}

DISCONNECT: dict[State, State | None] = {
    State.CONNECTED: State.DISCONNECTING,
    State.CONNECTING: State.DISCONNECTING,
    State.FAILED: State.DISCONNECTING,
}

DELETE_ALLOWED = frozenset({State.DISCONNECTED})

# Update: the request members allowed while CONNECTED (every other state but DISCONNECTED
# refuses every change); contract §5 note 2 follows the operation documentation.
UPDATABLE_WHILE_CONNECTED = frozenset(
    {"NewCustomKeyStoreName", "XksProxyAuthenticationCredential", "XksProxyUriPath"}
)

"""Cluster and HSM states, with their timed transitions.

cloudhsm layer. A state that is "in progress" ends by itself after `transition_ms`; the
effective state is worked out when it is read (from the stored state and when it began), so no
background job is needed and every process agrees.
"""

from __future__ import annotations

CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
UNINITIALIZED = "UNINITIALIZED"
INITIALIZE_IN_PROGRESS = "INITIALIZE_IN_PROGRESS"
INITIALIZED = "INITIALIZED"
ACTIVE = "ACTIVE"
DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
DELETED = "DELETED"

# in-progress state -> where it ends (a cluster restored from a backup is initialized already)
_CLUSTER_ENDS = {
    CREATE_IN_PROGRESS: UNINITIALIZED,
    INITIALIZE_IN_PROGRESS: INITIALIZED,
    DELETE_IN_PROGRESS: DELETED,
}
_HSM_ENDS = {CREATE_IN_PROGRESS: ACTIVE, DELETE_IN_PROGRESS: DELETED}


def cluster_state(state: str, since: float, restored: bool, now: float, delay: float) -> str:
    if state in _CLUSTER_ENDS and now >= since + delay:
        if state == CREATE_IN_PROGRESS and restored:
            return ACTIVE
        return _CLUSTER_ENDS[state]
    return state


def hsm_state(state: str, since: float, now: float, delay: float) -> str:
    if state in _HSM_ENDS and now >= since + delay:
        return _HSM_ENDS[state]
    return state

"""The registry of served operations: which coroutine serves which operation, said explicitly.

bottom layer (beside errors.py): imports only kmscks.caller. A service class marks each of its
operations with `@serves`:

    class KeyService:
        @serves("CreateKey")
        async def create_key(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
            ...

and the composition root (kmscks.runtime) binds service instances against one declared tuple
of operation names (KMS: kmscks.service.served.KMS_OPERATIONS), giving the api layer an explicit
{operation name: coroutine} mapping. Method names mean nothing. A declared operation that no
coroutine serves, a served one that is not declared, or one served twice stops the server at
start-up (RegistryError); the api layer refuses an operation its model lacks, and answers
UnknownOperationException for one the model names but nothing serves.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from kmscks.caller import Caller

Operation = Callable[[Caller, dict[str, Any]], Awaitable[dict[str, Any]]]
F = TypeVar("F", bound=Callable[..., Awaitable[dict[str, Any]]])

_MARK = "__cks_serves__"


class RegistryError(Exception):
    """The served operations do not match their declaration (a start-up error)."""


def serves(operation: str) -> Callable[[F], F]:
    """Mark a coroutine method as the one that serves `operation` (the model's name)."""

    def mark(function: F) -> F:
        if not _is_async(function):
            raise RegistryError(f"@serves({operation!r}) needs an async def, not {function!r}")
        setattr(function, _MARK, operation)
        return function

    return mark


def served_by(service: object) -> dict[str, Operation]:
    """The operations `service` serves: its @serves methods, bound to it."""
    operations: dict[str, Operation] = {}
    for attribute, member in inspect.getmembers_static(type(service)):
        operation = getattr(member, _MARK, None)
        if operation is None:
            continue
        if operation in operations:
            raise RegistryError(f"{operation} is served twice by {type(service).__name__}")
        operations[operation] = getattr(service, attribute)
    return operations


def bind(declared: Iterable[str], *services: object) -> dict[str, Operation]:
    """{operation: coroutine} of `services`, which must serve exactly the `declared` ones."""
    wanted = tuple(declared)
    if len(set(wanted)) != len(wanted):
        raise RegistryError(f"operations declared twice: {sorted(_repeated(wanted))}")
    operations: dict[str, Operation] = {}
    for service in services:
        for operation, call in served_by(service).items():
            if operation in operations:
                raise RegistryError(f"{operation} is served by two services")
            operations[operation] = call
    missing = sorted(set(wanted) - set(operations))
    if missing:
        raise RegistryError(f"declared but served by nothing: {', '.join(missing)}")
    undeclared = sorted(set(operations) - set(wanted))
    if undeclared:
        raise RegistryError(f"served but not declared: {', '.join(undeclared)}")
    return {operation: operations[operation] for operation in wanted}


def _is_async(function: object) -> bool:
    # A plain bool: iscoroutinefunction's TypeGuard would narrow `function` away from F.
    return inspect.iscoroutinefunction(function)


def _repeated(names: tuple[str, ...]) -> set[str]:
    return {name for name in names if names.count(name) > 1}

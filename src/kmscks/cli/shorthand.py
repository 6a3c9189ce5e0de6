"""The AWS CLI's shorthand syntax for structure options: `Key=Value,Key2=Value2`.

Layer: cli. A subset of awscli's shorthand grammar that covers the flat structures of the custom
key store operations (XksProxyAuthenticationCredential): keys, `=`, plain or quoted values, and
awscli's error text with a caret under the failing position. Imports nothing heavy.
"""

from __future__ import annotations

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.#/:")


class ShorthandParseError(Exception):
    def __init__(self, value: str, expected: str, actual: str, index: int) -> None:
        consumed, remaining, spaces = value, "", index
        if "\n" in value[:index]:
            spaces = index - value[:index].rindex("\n") - 1
        if "\n" in value[index:]:
            next_newline = index + value[index:].index("\n")
            consumed, remaining = value[:next_newline], value[next_newline:]
        location = f"{consumed}\n{' ' * spaces}^{remaining}"
        super().__init__(f"Expected: '{expected}', received: '{actual}' for input:\n{location}")


class DuplicateKeyError(Exception):
    def __init__(self, value: str, key: str, index: int) -> None:
        super().__init__(
            f'Second instance of key "{key}" encountered for input:\n{value}\n{" " * index}^\n'
            'This is often because there is a preceding "," instead of a space.'
        )


def parse(value: str) -> dict[str, str]:
    """Parse `Key=Value,...` into a dict of strings."""
    result: dict[str, str] = {}
    index = 0
    length = len(value)
    while True:
        while index < length and value[index] == " ":
            index += 1
        start = index
        while index < length and value[index] in _KEY_CHARS:
            index += 1
        key = value[start:index]
        while index < length and value[index] == " ":
            index += 1
        if index >= length or value[index] != "=":
            actual = "EOF" if index >= length else value[index]
            raise ShorthandParseError(value, "=", actual, index)
        index += 1
        while index < length and value[index] == " ":
            index += 1
        if index < length and value[index] in "\"'":
            quote = value[index]
            end = value.find(quote, index + 1)
            if end < 0:
                raise ShorthandParseError(value, quote, "EOF", length)
            item = value[index + 1 : end]
            index = end + 1
        else:
            end = value.find(",", index)
            end = length if end < 0 else end
            item = value[index:end].rstrip(" ")
            index = end
        if key in result:
            raise DuplicateKeyError(value, key, start)
        result[key] = item
        if index >= length:
            return result
        if value[index] != ",":
            raise ShorthandParseError(value, ",", value[index], index)
        index += 1

"""Whether a secret key is strong enough for production: its length, its variety, whether it
is a short pattern repeated, and the bits a search would need (no widgetapi imports: config.py
uses it)."""
from __future__ import annotations

import math
from collections.abc import Callable

MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 8
MIN_SECRET_KEY_BITS = 128

HOW_TO_MAKE_ONE = ": `widgetapi gen-key` prints a new one"


def weakness(name: str, value: str, insecure_dev_key: str) -> str | None:
    """Why production refuses `value` as the key called `name`, or None if it is strong enough.
    The reasons never repeat the key: they go to logs and terminals."""
    if value == insecure_dev_key:
        return f"{name} is the built-in development key, which production refuses{HOW_TO_MAKE_ONE}"
    if len(value) < MIN_SECRET_KEY_LENGTH:
        return (f"{name} must be at least {MIN_SECRET_KEY_LENGTH} characters long in production"
                f"{HOW_TO_MAKE_ONE}")
    if len(set(value)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return (f"{name} must have at least {MIN_SECRET_KEY_DISTINCT_CHARACTERS} different "
                f"characters in production{HOW_TO_MAKE_ONE}")
    if is_repeated_pattern(value):
        return f"{name} is a short pattern repeated, which production refuses{HOW_TO_MAKE_ONE}"
    bits = estimated_strength(value)
    if bits < MIN_SECRET_KEY_BITS:
        return (f"{name} is too weak for production: about {int(bits)} bits of estimated strength, "
                f"at least {MIN_SECRET_KEY_BITS} needed{HOW_TO_MAKE_ONE}")
    return None


# The alphabets a key's characters may come from: a key that uses one character of a class
# could use any of them.
_CHARACTER_CLASSES: tuple[tuple[Callable[[str], bool], int], ...] = (
    (lambda c: "a" <= c <= "z", 26),
    (lambda c: "A" <= c <= "Z", 26),
    (lambda c: "0" <= c <= "9", 10),
    (lambda c: c.isascii() and not c.isalnum(), 33),
    (lambda c: not c.isascii(), 100),
)


def estimated_strength(key: str) -> float:
    """The bits a search would need, estimated: each character is worth log2 of the alphabet
    that the key's character classes span, except the third and later of a run (`kkkk`,
    `abcd`, `9876`), worth 1 bit. A key of `widgetapi gen-key` (64 random URL-safe
    characters) scores over 340; 32 random hex digits about 160."""
    alphabet = sum(size for in_class, size in _CHARACTER_CLASSES if any(in_class(c) for c in key))
    per_character = math.log2(max(alphabet, 2))
    steps = [ord(c) - ord(before) for before, c in zip(key, key[1:], strict=False)]
    in_runs = sum(1 for step, previous in zip(steps[1:], steps, strict=False)
                  if step == previous and abs(step) <= 1)
    return (len(key) - in_runs) * per_character + in_runs


def is_repeated_pattern(key: str) -> bool:
    """Whether `key` is a string of at most half its length over and over (`abcabcabcab`):
    its shortest period, from the KMP prefix function, is at most half its length."""
    border = [0] * len(key)
    for i in range(1, len(key)):
        k = border[i - 1]
        while k and key[i] != key[k]:
            k = border[k - 1]
        border[i] = k + 1 if key[i] == key[k] else 0
    return bool(key) and len(key) - border[-1] <= len(key) // 2

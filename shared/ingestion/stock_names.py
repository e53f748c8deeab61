"""Which stocks of the universe a headline names: one trie-shaped regex over ~2,800 names.

A plain alternation of 2,800 names makes Python's regex engine try every name at every
position. Folding the names into a trie first (`삼성전자|삼성SDI` → `삼성(?:전자|SDI)`)
makes each position cost one walk down shared prefixes, like Aho-Corasick. At each node
longer continuations are tried before stopping, so the longest name wins: "삼성전자우"
is the preferred share, not 삼성전자. A match must not sit inside a longer Latin/digit
token either ("LG" in "LGD" is not LG), while Hangul particles after a name are fine
("삼성전자가", "셀트리온의").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MIN_NAME_CHARS = 2

_LATIN_OR_DIGIT = "0-9A-Za-z"


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    terminal: bool = False


def _pattern(node: _Node) -> str:
    branches = [re.escape(char) + _pattern(child) for char, child in sorted(node.children.items())]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # Greedy optional: try the longer names through this node before ending here.
    return f"(?:{body})?" if node.terminal else body


class StockNameMatcher:
    def __init__(self, names_by_code: Mapping[str, str]) -> None:
        self._codes_by_name: dict[str, set[str]] = {}
        for code, name in names_by_code.items():
            key = name.strip()
            if len(key) >= MIN_NAME_CHARS:
                self._codes_by_name.setdefault(key, set()).add(code)
        root = _Node()
        for name in self._codes_by_name:
            node = root
            for char in name:
                node = node.children.setdefault(char, _Node())
            node.terminal = True
        body = _pattern(root)
        self._regex = re.compile(f"(?<![{_LATIN_OR_DIGIT}])(?:{body})(?![{_LATIN_OR_DIGIT}])") if body else None

    def __len__(self) -> int:
        return len(self._codes_by_name)

    def codes_in(self, *texts: str) -> set[str]:
        """Codes of every stock named in the texts (longest name wins where names overlap)."""
        if self._regex is None:
            return set()
        found: set[str] = set()
        for text in texts:
            for match in self._regex.finditer(text):
                found.update(self._codes_by_name.get(match.group(0), ()))
        return found

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> StockNameMatcher:
        return cls(dict(pairs))

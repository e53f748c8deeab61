"""Which stocks of the universe a headline names: one trie-shaped regex over ~2,800 names.

A plain alternation of 2,800 names makes Python's regex engine try every name at every
position. Folding the names into a trie first (`삼성전자|삼성SDI` → `삼성(?:전자|SDI)`)
makes each position cost one walk down shared prefixes, like Aho-Corasick. At each node
longer continuations are tried before stopping, so the longest name wins: "삼성전자우"
is the preferred share, not 삼성전자. A match must be a word of its own: not inside a
longer Latin/digit token ("LG" in "LGD" is not LG), not the tail of a Hangul word ("최대상승"
does not name 대상), and followed only by what Korean attaches to a name — particles and a
few company nouns ("삼성전자가", "셀트리온의", "LG그룹과", "SK주가") — not by the rest of a
longer word ("대상자" is not 대상). Ambiguity remains where a name is also a common word
used as one ("지원 대상이"): that needs more than spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MIN_NAME_CHARS = 2

_LATIN_OR_DIGIT = "0-9A-Za-z"
_WORD = f"{_LATIN_OR_DIGIT}\uac00-\ud7a3"  # Latin, digits, Hangul syllables

# What may follow a name inside the same word: particles and nouns that qualify a company.
# Up to two stack ("LG그룹과", "삼성전자와의"); after them the word must end.
_PARTICLES = (
    "가 이 은 는 을 를 의 에 와 과 도 로 만 께 랑 나 며 서 엔 으로 에서 에게 에도 에는 에선 까지 부터 보다 "
    "처럼 마저 조차 이나 이며 이라 라는 로서 로부터 와의 과의 이라는 으로서 으로부터 에서는 에서도"
)
_COMPANY_NOUNS = "그룹 계열 계열사 주가 주식 측 株 주 사"
_ATTACHED = sorted({*_PARTICLES.split(), *_COMPANY_NOUNS.split()}, key=len, reverse=True)
_SUFFIX = "(?:" + "|".join(re.escape(word) for word in _ATTACHED) + ")"


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
        self._regex = (
            re.compile(f"(?<![{_WORD}])(?P<name>{body})(?![{_LATIN_OR_DIGIT}])(?:{_SUFFIX}){{0,2}}(?![{_WORD}])")
            if body
            else None
        )

    def __len__(self) -> int:
        return len(self._codes_by_name)

    def codes_in(self, *texts: str) -> set[str]:
        """Codes of every stock named in the texts (longest name wins where names overlap)."""
        if self._regex is None:
            return set()
        found: set[str] = set()
        for text in texts:
            for match in self._regex.finditer(text):
                found.update(self._codes_by_name.get(match.group("name"), ()))
        return found

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> StockNameMatcher:
        return cls(dict(pairs))

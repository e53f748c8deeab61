"""Versioned prompt files: `prompts/<name>_<version>.txt` with `### system` / `### user` sections.

The version is stored with every prediction, so a change of wording is a new file, never
an edit that silently changes what old predictions meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    version: str
    system: str
    user: str

    def render_user(self, **values: object) -> str:
        return self.user.format(**values)


@lru_cache(maxsize=16)
def load_prompt(name: str, version: str) -> PromptTemplate:
    path = PROMPTS_DIR / f"{name}_{version}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt {name!r} version {version!r} at {path}")
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    if set(sections) != {"system", "user"}:
        raise ValueError(f"prompt {path.name} must have exactly '### system' and '### user' sections")
    return PromptTemplate(name, version, "\n".join(sections["system"]).strip(), "\n".join(sections["user"]).strip())

"""What ``hitl-slack audit verify`` concludes: a :class:`Verdict` (its exit code) and a result.

Each way a trail can fail has its own verdict. Entries after the sealed head are an unsealed
tail, reported apart: until sealed, they are only as trustworthy as Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Verdict", "VerifyResult", "failure"]


class Verdict(IntEnum):
    """Outcome of a verification; the value is the exit code of ``audit verify``."""

    OK = 0
    NOTHING = 1
    BROKEN = 5
    NO_HEAD = 6
    TRUNCATED = 7
    EMPTY_TRAIL = 8
    HEAD_UNKNOWN = 9
    HEAD_TRIMMED = 10


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`."""

    verdict: Verdict
    checked: int = 0
    message: str = ""
    broken_at: str | None = None
    trimmed: bool = False
    unsealed: int = 0
    head: str | None = None

    @property
    def ok(self) -> bool:
        """The trail verified (an unsealed tail does not make it fail)."""
        return self.verdict is Verdict.OK

    def describe(self) -> str:
        """Lines for humans."""
        if not self.ok:
            where = f" at entry {self.broken_at}" if self.broken_at else ""
            return f"FAILED{where}: {self.message} ({self.checked} entries checked before)"
        if self.message:
            return f"ok: {self.message}"
        lines = [
            f"ok: {self.checked - self.unsealed} entries sealed, chain intact"
            + (
                " (oldest entries trimmed by retention; checked from the checkpoint they start "
                "after)"
                if self.trimmed
                else ""
            )
        ]
        if self.unsealed:
            lines.append(
                f"unsealed tail: {self.unsealed} newest entries not sealed yet (the bot "
                "seals within seconds; until then they are only as safe as Redis)"
            )
        return "\n".join(lines)


def failure(
    verdict: Verdict, message: str, *, at: str | None = None, checked: int = 0
) -> VerifyResult:
    """A failed verification: ``message`` says what, ``at`` names the entry where."""
    return VerifyResult(verdict, checked, message, at)

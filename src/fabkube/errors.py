"""The two kinds of failure fabkube reports, and how the CLI maps them to exit codes."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input: a spec, flag or file. Exit code 2, one line per problem."""

    exit_code = 2

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class RuntimeFailure(Exception):
    """Something that ran failed. Exit code 1; points at the log that explains it."""

    exit_code = 1

    def __init__(self, message: str, log: Path | None = None):
        self.log = log
        text = message if log is None else f"{message} (log: {log})"
        super().__init__(text)

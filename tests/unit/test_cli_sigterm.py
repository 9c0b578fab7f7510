"""SIGTERM before a command sets handlers of its own (veille.cli.stop_on_sigterm): the command
ends there with exit 143, wherever it is, and main() gives back the handler it replaced."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable

import pytest

from veille import cli


class Parser:
    """build_parser()'s stand-in: `parsing` runs while the arguments are read."""

    def __init__(self, command: Callable[[argparse.Namespace], int],
                 parsing: Callable[[], None] = lambda: None) -> None:
        self.command, self.parsing = command, parsing

    def parse_args(self, _argv: object) -> argparse.Namespace:
        self.parsing()
        return argparse.Namespace(func=self.command)


def sigterm() -> None:
    signal.raise_signal(signal.SIGTERM)


def test_sigterm_while_the_arguments_are_read_exits_143(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped raised before the command runs (the arguments, the logging set-up) escaped
    main() as a KeyboardInterrupt traceback, not the 143 the CHANGELOG promises (found in
    review, 2026-12-06)."""
    def never(_args: argparse.Namespace) -> int:
        raise AssertionError("the command ran")

    monkeypatch.setattr(cli, "build_parser", lambda: Parser(never, sigterm))
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main([]) == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_in_a_command_exits_143_and_the_handler_is_given_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[bool] = []

    def command(_args: argparse.Namespace) -> int:
        ran.append(True)
        sigterm()
        raise AssertionError("not stopped")

    monkeypatch.setattr(cli, "build_parser", lambda: Parser(command))
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main([]) == 143 and ran
    assert signal.getsignal(signal.SIGTERM) is before

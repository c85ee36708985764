"""Trace errors: :class:`TraceError`, and messages naming the file, line and what was expected.

A text format's parsing kernel reports an error code (``_E_*`` in :mod:`.textscan`) and
the start of the offending line; :func:`_text_error` turns that into a message using the
format's :class:`LineSyntax` (its example record and where its fields are on a line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workloads.model import WorkloadError
from workloads.traces.textscan import (
    _E_BAD_HEX,
    _E_BAD_ID,
    _E_BAD_PID,
    _E_BAD_SIZE,
    _E_RANGE,
    _E_SPAN,
    _E_TRUNCATED,
    _E_UNKNOWN_OP,
    _E_UNRECOGNISED,
    _OUT_CAP,
)


class TraceError(WorkloadError):
    """A trace that cannot be read; the message names the file, line or offset and what was expected."""


def _token(k: int) -> Callable[[str], str]:
    """The k-th blank-separated token of a line ('' if it has fewer)."""
    return lambda text: (text.split() + [""] * (k + 1))[k]


_DIN_OPS = "0 (read), 1 (write), 2 (exec), 3 or 4 (escape)"


@dataclass(frozen=True)
class LineSyntax:
    """What the error messages of a line-oriented text format need to know about its lines."""

    example: str  # a valid record, quoted, e.g. "'0 400d7d4'"
    address: Callable[[str], str] = str.strip  # the address (or number) field of a line
    size: Callable[[str], str] = str.strip  # the access-size field of a line
    op: Callable[[str], str] = _token(0)  # the op field of a line
    ops_allowed: str = _DIN_OPS  # the valid ops, for an unknown-op message


def _unrecognised(syn: LineSyntax, text: str) -> str:
    return (
        f"unrecognised line {text!r}; expected a record such as 'I  0400d7d4,3', "
        f"{syn.example}, ' S 1fff000778,8' or ' M 0421b4a0,4', or a '==pid==' message"
    )


_MESSAGES: dict[int, Callable[[LineSyntax, str], str]] = {
    _E_UNRECOGNISED: _unrecognised,
    _E_BAD_HEX: lambda syn, text: f"bad hex address {syn.address(text).strip()!r}; expected {syn.example}",
    _E_TRUNCATED: lambda syn, text: f"truncated record {text!r}; expected {syn.example}",
    _E_BAD_SIZE: lambda syn, text: (
        f"bad access size {syn.size(text).strip()!r}; expected a decimal size as in {syn.example}"
    ),
    _E_RANGE: lambda syn, text: (
        f"number {syn.address(text).strip()!r} out of range; expected a 64-bit value as in {syn.example}"
    ),
    _E_UNKNOWN_OP: lambda syn, text: (
        f"unknown op {syn.op(text)!r}; expected {syn.ops_allowed} as in {syn.example}"
    ),
    _E_BAD_PID: lambda syn, text: f"bad pid {_token(0)(text)!r}; expected a decimal pid as in {syn.example}",
    _E_BAD_ID: lambda syn, text: (
        f"bad object id {text.strip()!r}; expected one decimal integer per line as in {syn.example}"
    ),
    _E_SPAN: lambda syn, text: (
        f"access {text.strip()!r} spans more than {_OUT_CAP} pages; use a larger page size"
    ),
}


def _describe(syntax: LineSyntax, code: int, text: str) -> str:
    """What is wrong with the line ``text`` that failed with ``code``, and what was expected."""
    message = _MESSAGES.get(code)
    if message is None:  # pragma: no cover
        return f"cannot parse {text!r}; expected {syntax.example}"
    return message(syntax, text)


def _line_text(buf: np.ndarray, start: int) -> str:
    end = start
    while end < buf.shape[0] and buf[end] != 10 and end - start < 200:
        end += 1
    return bytes(buf[start:end]).rstrip(b"\r").decode("utf-8", "replace")


def _text_error(
    label: str, syntax: LineSyntax, buf: np.ndarray, epos: int, lines_before: int, code: int
) -> TraceError:
    return TraceError(f"{label} line {lines_before + 1}: {_describe(syntax, code, _line_text(buf, epos))}")

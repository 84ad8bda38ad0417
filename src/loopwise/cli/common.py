"""What every command shares: opening loopwise from the CLI options, and turning domain errors
into a one-line message and exit code 2 instead of a traceback."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loopwise.errors import InvalidInput, LoopwiseError
from loopwise.services.loop import Loopwise
from loopwise.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

console = Console()

ProjectArg = Annotated[str, typer.Argument(help="Project name.")]
RowsFileArg = Annotated[Path, typer.Argument(help="CSV or JSONL file.", dir_okay=False)]
RowsFormatOption = Annotated[str | None, typer.Option("--format", help="csv or jsonl.")]
"""What commands that read rows from a file take: the file, and its format when its name
does not say."""


def check_output(path: Path | None, option: str) -> None:
    """Refuse, before any work, a file to write that cannot be written: a directory, one whose
    nearest existing ancestor is a file, or one where this user may not write. (A long
    ``simulate`` ran to the end and then failed with a traceback on ``--png`` naming a
    directory.) The write itself goes through :func:`writing`, for what only it can find.

    Raises
    ------
    InvalidInput
        Naming ``option`` (``png``, ``json``, ``output``, ...).
    """
    if path is None:
        return
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; name a file", field=option)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InvalidInput(f"{path} cannot be written: {parent} is not a directory", field=option)
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidInput(f"{path} cannot be written: permission denied", field=option)


@contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """Make ``path``'s missing directories, then run the block that writes it; an ``OSError``
    (a full disk, a read-only file system) is refused naming ``option``, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as exc:
        raise InvalidInput(
            f"{path} cannot be written: {exc.strerror or exc}", field=option
        ) from None


def progress_bar() -> Progress:
    """The progress display of long commands: description, bar, done of total, time taken;
    gone when finished."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


errors = Console(stderr=True, soft_wrap=True)


def open_loopwise(ctx: typer.Context) -> Loopwise:
    options: dict[str, Any] = ctx.obj or {}
    overrides = {k: v for k, v in options.items() if v is not None}
    return Loopwise(Settings(**overrides))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a domain or settings error as ``error: field: message`` and exit with status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LoopwiseError as exc:
            where = f"{exc.field}: " if exc.field else ""
            errors.print(f"[bold red]error[/] {where}{exc.message}", highlight=False)
            raise typer.Exit(2) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            errors.print(f"[bold red]error[/] settings {field}: {first['msg']}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper

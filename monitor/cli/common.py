"""What every command shares: the State (config and database, opened and checked once), the
error classes and the one place domain errors become exit code 2 (`Group.invoke`)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from hashes.formats import HashFormatError
from monitor import store
from monitor.core import clock
from monitor.core.config import Config, ConfigError, load
from monitor.core.urls import UrlError
from monitor.intake.common import ImportFileError, ImportResult

DOMAIN_ERRORS = (
    ConfigError,
    store.StoreError,
    ImportFileError,
    clock.TimeFormatError,
    UrlError,
    HashFormatError,
)


class BadInput(click.ClickException):
    exit_code = 2


class NotAvailable(click.ClickException):
    exit_code = 1


# SQLite errors that mean the file is bad (damaged, not a database, read-only): bad input
BAD_FILE_WORDS = ("malformed", "not a database", "readonly", "read-only", "unable to open")


class Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as exc:
            raise BadInput(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise  # IntegrityError, ProgrammingError ...: a bug, keep its traceback
            ctx_db = ctx.obj.db_path if isinstance(ctx.obj, State) else "the database"
            message = f"database {ctx_db}: {store.explain(exc)}"
            if any(word in str(exc).lower() for word in BAD_FILE_WORDS):
                raise BadInput(message) from None
            raise NotAvailable(message) from None


class State:
    def __init__(self, db: str | None, config: str | None) -> None:
        self.db_arg, self.config_arg = db, config
        self._config: Config | None = None
        self._verified = False

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load(self.config_arg)
        return self._config

    @property
    def db_path(self) -> Path:
        return store.db_path(self.db_arg)

    def db(self, *, readonly: bool = False, create: bool = False):
        """Open the database, its integrity checked on the first open in this process (a
        damaged file makes readers print wrong numbers and writers make it worse); only
        `create=True` (init, imports) makes a new database."""
        db = store.connect(self.db_arg, readonly=readonly, create=create, verify=not self._verified)
        self._verified = True
        return db


pass_state = click.make_pass_decorator(State)


def print_import(result: ImportResult, what: str) -> None:
    for error in result.errors:
        click.echo(str(error), err=True)
    if result.bad > len(result.errors):
        click.echo(f"... and {result.bad - len(result.errors)} more bad rows", err=True)
    verb = "would add" if result.dry_run else "added"
    click.echo(
        f"{result.file}: {result.read} rows read, {verb} {result.added} {what}, "
        f"{result.unchanged} unchanged, {result.bad} bad"
    )
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.bad:
        sys.exit(2)

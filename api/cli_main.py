"""`koc`'s entry point: the run's language first, then the commands.

Typer builds every help text when `api.cli` is imported, so the language of
the run — `--lang zh|en` before the command, else `KOC_LANG`, else Chinese —
is set before that import (`koc --lang en --help`, `KOC_LANG=en koc --help`).
`api.cli`'s callback checks the option and sets it again for the command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import cast

from api.i18n import LANGS, N_, Lang, _, set_lang

# Typer's own words in help and error panels (module constants of
# `typer.rich_utils`, English when Typer is imported).
TYPER_TEXT = {
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}
HELP_OPTION_TEXT = N_("Show this message and exit.")
USAGE_PREFIX = N_("Usage: ")


def lang_option(argv: Sequence[str]) -> str | None:
    """The value of `--lang` among the options before the command (`koc
    --lang en stats`, `koc --lang=en stats`); a command's own `--lang`
    (`koc export --lang zh`) is not the run's."""
    for i, arg in enumerate(argv):
        if arg == "--lang":
            return argv[i + 1] if i + 1 < len(argv) else None
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if not arg.startswith("-"):
            return None  # the command: what follows is its own
    return None


def localize_typer() -> None:
    """Typer's panel titles, `[required]`, `Usage:` and the `--help` option's
    help in the run's language. A Typer without these names keeps them in
    English; nothing else changes."""
    from typer import rich_utils

    for name, msgid in TYPER_TEXT.items():
        if isinstance(getattr(rich_utils, name, None), str):
            setattr(rich_utils, name, _(msgid))
    try:
        from typer._click import decorators, formatting
    except ImportError:  # pragma: no cover - another Typer
        return
    make_help_option = getattr(decorators, "help_option", None)
    formatter = getattr(formatting, "HelpFormatter", None)
    if make_help_option is not None and not getattr(make_help_option, "localized", False):

        def help_option(param_decls):
            add = make_help_option(param_decls)

            def apply(command):
                command = add(command)
                command.params[-1].help = _(HELP_OPTION_TEXT)
                return command

            return apply

        help_option.localized = True  # type: ignore[attr-defined]
        decorators.help_option = help_option
    if formatter is not None and hasattr(formatter, "write_usage"):
        write_usage = formatter.write_usage
        if not getattr(write_usage, "localized", False):

            def localized_usage(self, prog, args="", prefix=None):
                return write_usage(self, prog, args, _(USAGE_PREFIX) if prefix is None else prefix)

            localized_usage.localized = True  # type: ignore[attr-defined]
            formatter.write_usage = localized_usage


def main(argv: Sequence[str] | None = None) -> None:
    """Run `koc` with `argv` (the process's arguments by default)."""
    args = list(sys.argv[1:] if argv is None else argv)
    lang = lang_option(args)
    if lang in LANGS:
        set_lang(cast(Lang, lang))
    localize_typer()
    from api.cli import app  # builds the help texts in the language just set

    app(args=args, prog_name="koc")


if __name__ == "__main__":  # pragma: no cover - python -m api.cli_main
    main()

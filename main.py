"""Start the referral program: the Telegram bot (long polling or webhook) with the HTTP API and the
web app, or (with `api`, or without a bot token) the HTTP API and the web app alone, or one of
the maintenance commands."""

import argparse
import sys

import runtime
from settings import SettingsError, load_settings


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="bot",
        choices=runtime.COMMANDS,
        help="bot (default): the bot with the HTTP API and the web app (without BOT_TOKEN, "
        "these two alone); api: the HTTP API and the web app alone; migrate: "
        "bring the database schema to the latest version; set-webhook / delete-webhook: "
        "register WEBHOOK_URL with Telegram, or remove it",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    return runtime.start(arguments.command, settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

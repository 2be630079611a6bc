"""A stand-in for Telegram's Bot API, trimmed to what the bot calls, with Telegram's rules.

- `bot_api`: the rules and the state of one bot's Bot API (chats, messages, files, queries), the
  people who talk to the bot, and what happened; no transport, so a program can call it in
  process.
- `updates`: the updates waiting for the bot (long polling, or a webhook).
- `formatting`, `errors`: Telegram's HTML parse mode, limits and reply markup; its error answers.
- `http`: the Bot API over HTTP at `/bot<token>/<method>`; `webhook`: deliveries to the bot.
- `session`: the bot's aiogram session answered by a `BotApi` in process, without HTTP.

The end-to-end tests and the bench run the real program against it over HTTP.
"""

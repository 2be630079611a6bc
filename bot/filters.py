"""Filters as coroutines: aiogram runs a plain callable, magic `F` filters included, in a worker
thread (`asyncio.to_thread`), which cost more than the rest of the routing of an update. A bare
`State` is such a callable too: states are filtered with `StateFilter(...)`, which is awaited."""

from aiogram.enums import ChatType
from aiogram.types import Message


async def in_group(message: Message) -> bool:
    return message.chat.type != ChatType.PRIVATE


async def shared_contact(message: Message) -> dict[str, object] | bool:
    """A message carrying a contact; hands it to the handler as `contact`."""
    return {"contact": message.contact} if message.contact is not None else False


async def typed_text(message: Message) -> dict[str, object] | bool:
    """Text that is not a command; hands it to the handler as `text`."""
    text = message.text
    return {"text": text} if text is not None and not text.startswith("/") else False

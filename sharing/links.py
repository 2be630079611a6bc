"""Invite links, each kind made by one function: the bot's deep link, the web app's `?ref=` link,
and Telegram's share dialog prefilled with one of them; and which kind a member is given."""

from dataclasses import dataclass
from urllib.parse import quote, urlencode

CODE_PLACEHOLDER = "{code}"  # in a link template, where each member's code goes


def deep_link(bot_username: str, invite_code: str) -> str:
    """The link that opens the bot with `/start <invite_code>`."""
    return f"https://t.me/{bot_username}?start={invite_code}"


def web_link(web_app_url: str, invite_code: str) -> str:
    """The web app's page with the code in `?ref=`; the address's own query and fragment go, so
    that the code is the page's only parameter."""
    return f"{web_app_url.split('?')[0].split('#')[0]}?ref={invite_code}"


def share_url(link: str, text: str) -> str:
    """Telegram's share dialog, prefilled with the link and a line of text."""
    return "https://t.me/share/url?" + urlencode({"url": link, "text": text}, quote_via=quote)


@dataclass(frozen=True, slots=True)
class InviteLinks:
    """Where invite links point: the bot's deep link when the bot runs (its username is known),
    else the web app at `web_app_url` or, without it, at the address a request came to."""

    bot_username: str | None
    web_app_url: str | None

    def link(self, invite_code: str, *, base_url: str) -> str:
        """A member's invite link; `base_url` is the web app's address when no other is known."""
        if self.bot_username:
            return deep_link(self.bot_username, invite_code)
        return web_link(self.web_app_url or base_url, invite_code)

    def template(self, *, base_url: str) -> str:
        """The invite link with `{code}` in place of the code, for the page to fill in."""
        return self.link(CODE_PLACEHOLDER, base_url=base_url)

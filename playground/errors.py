"""Telegram's error answers, as the Bot API gives them: a status that is also the `error_code`, and
a description the bot (aiogram) reads to tell one refusal from another."""

from typing import Any

BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ApiError(Exception):
    """A Bot API error answer; a 429 tells the bot how long to wait (`retry_after`, seconds)."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    @classmethod
    def of(
        cls, code: int, description: str | None = None, retry_after: int | None = None
    ) -> "ApiError":
        """The error with Telegram's usual description for its code when none is given."""
        if description is None:
            description = DESCRIPTIONS.get(code, "Error")
            if code == 429 and retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        return cls(code, description, retry_after)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")

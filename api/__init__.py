"""The HTTP API: the original web version's contract over the referral service."""

from api.app import create_app

__all__ = ["create_app"]

"""The steps of the conversation that wait for the person's next message."""

from aiogram.fsm.state import State, StatesGroup


class Verification(StatesGroup):
    phone = State()  # waiting for the shared contact
    code = State()  # waiting for the verification code; data: phone, invite_code


class Invitation(StatesGroup):
    code = State()  # `/invite` alone: waiting for the invite code


class OperatorStep(StatesGroup):
    block_reason = State()  # after Block: waiting for the reason; data: the member's id
    broadcast_message = State()  # after /broadcast: waiting for the message to send
    broadcast_confirm = State()  # the preview shown; data: the message's text and photo

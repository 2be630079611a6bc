"""The steps of the conversation that wait for the person's next message.

The FSM storage (Redis with REDIS_URL) keeps a step as "<group>:<state>" across restarts and
releases, so each group's stored name is fixed here, apart from its class name."""

from aiogram.fsm.state import State, StatesGroup

JOINING = "Verification"  # the stored name of Joining's steps, from before its rename


class Joining(StatesGroup):
    phone = State(group_name=JOINING)  # waiting for the shared contact
    code = State(group_name=JOINING)  # waiting for the verification code; data: phone, invite_code


class Invitation(StatesGroup):
    code = State()  # `/invite` alone: waiting for the invite code


class OperatorStep(StatesGroup):
    block_reason = State()  # after Block: waiting for the reason; data: the member's id
    broadcast_message = State()  # after /broadcast: waiting for the message to send
    broadcast_confirm = State()  # the preview shown; data: the message's text and photo

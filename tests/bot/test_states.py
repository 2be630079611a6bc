"""The conversation's steps keep the names the FSM storage (Redis) holds across releases."""

from bot.states import Invitation, Joining, OperatorStep


def test_stored_step_names_do_not_change_with_the_class_names() -> None:
    assert [step.state for step in (Joining.phone, Joining.code)] == [
        "Verification:phone",
        "Verification:code",
    ]
    assert "Verification:code" in Joining and Joining.code == "Verification:code"
    assert Invitation.code.state == "Invitation:code"
    assert [step.state for step in OperatorStep] == [
        "OperatorStep:block_reason",
        "OperatorStep:broadcast_message",
        "OperatorStep:broadcast_confirm",
    ]

"""`flask users ...` through the CLI runner: tables, --json, prompts and error exits."""

from __future__ import annotations

import json

import pytest

from app.models import AuthEvent, AuthSession, User
from tests.app.helpers import rows
from tests.conftest import PASSWORD

NEW_PASSWORD = "a different passphrase"


def create(runner, username: str, password: str = PASSWORD, *extra: str):
    return runner.invoke(
        args=["users", "create", username, "--password-stdin", *extra], input=password + "\n"
    )


def test_create_reads_password_from_stdin_and_the_user_can_log_in(runner, auth, app):
    result = create(runner, "Alice", PASSWORD, "--display-name", "Alice Liddell")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Created user alice.\n"
    assert PASSWORD not in result.output
    assert rows(app, User)[0]["display_name"] == "Alice Liddell"
    assert auth.login("alice").status_code == 200
    [logged] = rows(app, AuthEvent, kind="register")
    assert logged["username"] == "alice" and "admin" in logged["detail"]


def test_create_prompts_twice_for_a_hidden_password(runner, auth):
    result = runner.invoke(args=["users", "create", "alice"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output and "Repeat for confirmation:" in result.output
    assert PASSWORD not in result.output
    assert auth.login("alice").status_code == 200


def test_create_refuses_when_the_confirmation_differs(runner, app):
    result = runner.invoke(args=["users", "create", "alice"], input=f"{PASSWORD}\n{PASSWORD}x\n")
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert rows(app, User) == []


def test_create_json_output_is_parseable(runner):
    result = create(runner, "alice", PASSWORD, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["username"] == "alice" and data["status"] == "active"
    assert data["live_sessions"] == 0 and "created_at" in data
    assert "password" not in json.dumps(data)


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("alice", "short", "Use at least 8 characters."),
        ("alice", "password1", "too common"),
        ("alice", "", "No password on standard input."),
        ("a", PASSWORD, "Usernames are 3-32 characters"),
        ("bad name", PASSWORD, "Usernames are 3-32 characters"),
    ],
)
def test_create_with_bad_input_exits_non_zero_with_a_clear_message(
    runner, app, username, password, message
):
    result = create(runner, username, password)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert rows(app, User) == []


def test_create_taken_username_fails(runner, app):
    create(runner, "alice")
    result = create(runner, "ALICE")
    assert result.exit_code == 1 and "taken" in result.stderr
    assert len(rows(app, User)) == 1


def test_list_prints_an_aligned_table(runner, login, auth):
    login("alice")
    auth.register("bob", display_name="Robert")
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    header, *lines = result.stdout.splitlines()
    assert header.split() == [
        "USERNAME",
        "DISPLAY",
        "NAME",
        "STATUS",
        "SESSIONS",
        "CREATED",
        "(UTC)",
    ]
    assert [line.split()[0] for line in lines] == ["alice", "bob"]
    status_column = header.index("STATUS")
    assert [line[status_column:].split()[0] for line in lines] == ["active", "active"]
    sessions_column = header.index("SESSIONS")
    assert [line[sessions_column:].split()[0] for line in lines] == ["1", "0"]


def test_list_json_and_filters(runner, auth):
    for name in ("alice", "bob", "bobby"):
        auth.register(name)
    runner.invoke(args=["users", "disable", "bobby"])
    everyone = json.loads(runner.invoke(args=["users", "list", "--json"]).stdout)
    assert [u["username"] for u in everyone] == ["alice", "bob", "bobby"]
    assert [u["status"] for u in everyone] == ["active", "active", "disabled"]
    bobs = json.loads(runner.invoke(args=["users", "list", "-q", "BOB", "--json"]).stdout)
    assert [u["username"] for u in bobs] == ["bob", "bobby"]
    disabled = json.loads(runner.invoke(args=["users", "list", "--disabled", "--json"]).stdout)
    assert [u["username"] for u in disabled] == ["bobby"]


def test_list_without_users_says_so(runner):
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0 and result.stdout == "No users.\n"
    assert json.loads(runner.invoke(args=["users", "list", "--json"]).stdout) == []


def test_show_prints_details_and_json(runner, login, call):
    alice = login("alice")
    login("bob")
    call(alice, "bob")
    result = runner.invoke(args=["users", "show", "ALICE"])
    assert result.exit_code == 0
    shown = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert shown["Username"].strip() == "alice"
    assert shown["Live sessions"].strip() == "1" and shown["Calls"].strip() == "1"
    assert shown["Last login"].strip() != "-"
    data = json.loads(runner.invoke(args=["users", "show", "alice", "--json"]).stdout)
    assert data["username"] == "alice" and data["calls"] == 1 and data["last_login_at"]


@pytest.mark.parametrize(
    "command",
    [["show"], ["disable"], ["enable"], ["delete", "--yes"], ["set-password", "--password-stdin"]],
)
def test_commands_on_an_unknown_user_fail(runner, command):
    result = runner.invoke(args=["users", command[0], "ghost", *command[1:]], input="x" * 12 + "\n")
    assert result.exit_code == 1
    assert "No user named 'ghost'." in result.stderr


def test_disable_revokes_sessions_and_blocks_login_until_enabled(runner, login, auth, client, app):
    headers = login("alice")
    auth.login("alice")
    result = runner.invoke(args=["users", "disable", "alice"])
    assert result.exit_code == 0
    assert result.stdout == "Disabled alice; revoked 2 live session(s).\n"
    assert client.get("/me", headers=headers).status_code == 401
    assert auth.login("alice").status_code == 401
    assert {s["revoke_reason"] for s in rows(app, AuthSession)} == {"account_disabled"}
    assert rows(app, AuthEvent, kind="account_disabled")[0]["ip"] == ""
    again = runner.invoke(args=["users", "disable", "alice"])
    assert again.exit_code == 1 and "already disabled" in again.stderr

    result = runner.invoke(args=["users", "enable", "alice"])
    assert result.exit_code == 0 and result.stdout == "Enabled alice.\n"
    assert auth.login("alice").status_code == 200
    assert client.get("/me", headers=headers).status_code == 401  # old tokens stay dead
    again = runner.invoke(args=["users", "enable", "alice"])
    assert again.exit_code == 1 and "not disabled" in again.stderr


def test_delete_asks_for_confirmation(runner, login, app):
    login("alice")
    result = runner.invoke(args=["users", "delete", "alice"], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert len(rows(app, User)) == 1
    result = runner.invoke(args=["users", "delete", "alice"], input="y\n")
    assert result.exit_code == 0 and "Deleted alice." in result.stdout
    assert rows(app, User) == []


def test_delete_yes_removes_account_and_kills_its_tokens(runner, login, client, app):
    headers = login("alice")
    result = runner.invoke(args=["users", "delete", "alice", "--yes"])
    assert result.exit_code == 0 and result.stdout == "Deleted alice.\n"
    assert client.get("/me", headers=headers).status_code == 401
    assert rows(app, User) == [] and rows(app, AuthSession) == []
    [logged] = rows(app, AuthEvent, kind="account_deleted")
    assert logged["username"] == "alice" and logged["user_id"] is None


def test_set_password_revokes_every_session(runner, login, auth, client, app):
    headers = login("alice")
    result = runner.invoke(
        args=["users", "set-password", "alice", "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0
    assert result.stdout == "Password changed for alice; revoked 1 session(s).\n"
    assert NEW_PASSWORD not in result.output
    assert client.get("/me", headers=headers).status_code == 401
    assert auth.login("alice", PASSWORD).status_code == 401
    assert auth.login("alice", NEW_PASSWORD).status_code == 200
    assert rows(app, AuthEvent, kind="password_changed")[0]["detail"].endswith("(flask cli)")


def test_set_password_by_prompt(runner, login, auth):
    login("alice")
    result = runner.invoke(
        args=["users", "set-password", "alice"], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert result.exit_code == 0 and NEW_PASSWORD not in result.output
    assert auth.login("alice", NEW_PASSWORD).status_code == 200


def test_set_password_refuses_a_weak_one_and_changes_nothing(runner, login, client, app):
    headers = login("alice")
    before = rows(app, User)[0]["password_hash"]
    result = runner.invoke(
        args=["users", "set-password", "alice", "--password-stdin"], input="alice\n"
    )
    assert result.exit_code == 1 and "Error:" in result.stderr
    assert rows(app, User)[0]["password_hash"] == before
    assert client.get("/me", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("group", "command", "summary"),
    [
        ("users", "create", "Create an account"),
        ("users", "list", "List accounts"),
        ("users", "show", "Show one account"),
        ("users", "disable", "Disable an account"),
        ("users", "enable", "Re-enable a disabled account"),
        ("users", "delete", "Delete an account"),
        ("users", "set-password", "Set a new password"),
        ("sessions", "list", "List live sessions"),
        ("sessions", "revoke", "Revoke sessions"),
        ("sessions", "purge", "Delete expired, idle and revoked sessions"),
        ("calls", "list", "List calls"),
        ("calls", "show", "Show one call"),
        ("calls", "stats", "Count calls by outcome"),
    ],
)
def test_every_command_has_help_from_its_docstring(runner, group, command, summary):
    listing = runner.invoke(args=[group, "--help"])
    assert listing.exit_code == 0
    line = next(x for x in listing.stdout.splitlines() if x.strip().startswith(command + " "))
    assert summary in line and not line.rstrip().endswith("...")
    result = runner.invoke(args=[group, command, "--help"])
    assert result.exit_code == 0 and summary in result.stdout


@pytest.mark.parametrize("command", [["disable"], ["delete", "--yes"]])
def test_disabling_or_deleting_a_user_mid_call_ends_the_call(runner, login, client, call, command):
    alice, bob = login("alice"), login("bob")
    call_id = call(alice, "bob")["id"]
    client.post("/call/accept", json={"call_id": call_id}, headers=bob)
    assert runner.invoke(args=["users", *command[:1], "alice", *command[1:]]).exit_code == 0
    seen_by_bob = client.get(f"/calls/{call_id}", headers=bob).json
    assert (seen_by_bob["state"], seen_by_bob["end_reason"]) == ("ended", "hangup")


@pytest.mark.parametrize("group", ["users", "sessions", "calls"])
def test_commands_on_an_unmigrated_database_fail_with_a_hint_not_a_traceback(make_app, group):
    runner = make_app(create=False).test_cli_runner()
    result = runner.invoke(args=[group, "list"])
    assert result.exit_code == 1
    assert "no such table" in result.stderr and "flask db upgrade" in result.stderr
    assert "Traceback" not in result.output

"""The `stockinsight` commands with the fixture handlers (and the real template where it matters)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.sqs import QueueRef

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(fixture_template_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    def run_command(*argv: str, template: Path | None = None) -> tuple[int, str, str]:
        code = main(["--template", str(template or fixture_template_path), *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run_command


@pytest.fixture(autouse=True)
def _no_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)


def test_invoke_prints_only_the_result_on_stdout(run: Run) -> None:
    code, out, err = run("invoke", "jobs", "--event", '{"job": "daily", "date": "2024-01-03"}')
    assert code == 0
    result = json.loads(out)
    assert result["event"] == {"job": "daily", "date": "2024-01-03"}
    assert result["function_name"] == "stockinsight-local-jobs"
    assert result["memory_limit_in_mb"] == 512
    assert 0 < result["remaining_ms"] <= 60_000
    assert "a log line on stdout" in err  # the function's own output goes to stderr


def test_invoke_applies_the_templates_environment_for_the_call_only(run: Run) -> None:
    code, out, _ = run("invoke", "JobsFunction")
    assert code == 0
    assert json.loads(out)["environment"] == {
        "FIXTURE_GLOBAL": "from-globals",
        "FIXTURE_OVERRIDDEN": "from-function",
        "POWERTOOLS_SERVICE_NAME": "jobs",
        "SECRETS_SSM_PATH": None,  # a !Sub: only a deployment resolves it
        "WORK_QUEUE_URL": None,
    }
    assert "FIXTURE_GLOBAL" not in os.environ


def test_local_values_win_over_the_template(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIXTURE_GLOBAL", "mine")
    _, out, _ = run("invoke", "jobs")
    assert json.loads(out)["environment"]["FIXTURE_GLOBAL"] == "mine"


def test_invoke_reads_the_event_from_a_file_or_stdin(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text('{"job": "from-file"}')
    assert json.loads(run("invoke", "jobs", "--event", str(event_file))[1])["event"] == {"job": "from-file"}
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"job": "from-stdin"}'))
    assert json.loads(run("invoke", "jobs", "--event", "-")[1])["event"] == {"job": "from-stdin"}


def test_a_failing_handler_prints_the_runtimes_error_and_exits_1(run: Run) -> None:
    code, out, _ = run("invoke", "jobs", "--event", '{"job": "explode"}')
    assert code == 1
    error = json.loads(out)
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "job exploded")
    assert error["stackTrace"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("invoke", "nope"), "no function 'nope'"),
        (("invoke", "jobs", "--event", "{broken"), "--event is not valid JSON"),
        (("invoke", "jobs", "--event", "missing.json"), "neither JSON nor an existing file"),
        (("schedule", "--date", "2024-01-03"), "--date needs --function, --job or --name"),
        (("schedule", "--job", "nope"), "no schedule matches"),
    ],
)
def test_usage_errors_exit_2_with_a_message(run: Run, argv: tuple[str, ...], message: str) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert message in err


def test_schedule_without_filters_lists_the_schedules(run: Run) -> None:
    code, out, _ = run("schedule")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "FUNCTION", "SCHEDULE", "INPUT"]
    daily = next(line for line in lines if line.startswith("JobsDailySchedule"))
    assert "jobs" in daily and "cron(10 16 ? * MON-FRI *) Asia/Seoul" in daily and '{"job": "daily"}' in daily
    legacy = next(line for line in lines if line.startswith("JobsLegacyRule"))
    assert "(scheduled event)" in legacy and legacy.endswith("disabled")


def test_schedule_fires_the_input_with_the_date(run: Run) -> None:
    code, out, err = run("schedule", "--function", "jobs", "--job", "daily", "--date", "2024-01-03")
    assert code == 0
    assert json.loads(out)["event"] == {"job": "daily", "date": "2024-01-03"}
    assert "firing JobsDailySchedule" in err


def test_two_schedules_with_one_input_fire_once(run: Run) -> None:
    code, out, _ = run("schedule", "--job", "hourly")
    assert code == 0
    assert json.loads(out)["event"] == {"job": "hourly", "pages": 2}  # exactly one JSON document


def test_schedule_can_send_a_plain_scheduled_event(run: Run) -> None:
    _, out, _ = run("schedule", "--name", "JobsLegacyRule")
    event = json.loads(out)["event"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"] == ["arn:aws:events:ap-northeast-2:123456789012:rule/JobsLegacyRule"]
    _, out, _ = run("schedule", "--job", "daily", "--scheduled-event", "--date", "2024-01-03")
    event = json.loads(out)["event"]
    assert event["time"] == "2024-01-03T03:00:00Z"  # noon in Seoul
    assert event["resources"] == ["arn:aws:scheduler:ap-northeast-2:123456789012:schedule/default/JobsDailySchedule"]


def test_drain_needs_a_local_endpoint(run: Run, settings_env: Callable[..., Any]) -> None:
    settings_env(AWS_ENDPOINT_URL="")
    code, _, err = run("drain")
    assert code == 2
    assert "set AWS_ENDPOINT_URL" in err


def test_drain_delivers_pending_messages(
    run: Run, settings_env: Callable[..., Any], sqs: Any, work_queues: dict[str, QueueRef]
) -> None:
    work = work_queues["WorkQueue"]
    for body in ("one", "fail-once"):
        sqs.send_message(QueueUrl=work.url, MessageBody=body)
    settings_env(AWS_ENDPOINT_URL=sqs.meta.endpoint_url, WORK_QUEUE_URL=work.url)
    code, out, _ = run("drain", "--retry-delay", "0")
    assert code == 0
    assert out.strip() == "WorkQueue → consumer: 2 delivered in 2 batches, 1 failed deliveries, 0 dead-lettered, 0 left"


def test_migrate_upgrades_the_configured_database(run: Run, migrated_database: str) -> None:
    code, out, _ = run("migrate")
    assert code == 0
    assert out.startswith("migrated postgresql+pg8000://") and out.strip().endswith("to head")


def test_create_admin_reads_the_password_from_stdin(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch, db_session: Any
) -> None:
    from shared.users import service as user_service
    from shared.users.models import Role

    monkeypatch.setattr(sys, "stdin", io.StringIO("Correct-horse-42\n"))
    code, out, _ = run("create-admin", "--email", "Ops@Example.com", "--password-stdin")
    assert code == 0
    assert out.startswith("created admin ops@example.com")
    admin = user_service.get_by_email(db_session=db_session, email="ops@example.com")
    assert admin is not None and admin.role == Role.ADMIN
    assert user_service.authenticate(db_session=db_session, email="ops@example.com", password="Correct-horse-42")

    monkeypatch.setattr(sys, "stdin", io.StringIO("Another-pass-99\n"))
    code, _, err = run("create-admin", "--email", "ops@example.com", "--password-stdin")
    assert code == 1
    assert "already exists" in err


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("ops@example.com", "\n", "an empty password is not accepted"),
        ("ops@example.com", "short\n", "at least"),
        ("not-an-email", "Correct-horse-42\n", "invalid admin: email"),
    ],
)
def test_create_admin_refuses_bad_input(
    run: Run, database: str, monkeypatch: pytest.MonkeyPatch, email: str, password: str, message: str
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password))
    code, _, err = run("create-admin", "--email", email, "--password-stdin")
    assert code == 2
    assert message in err


def test_demo_dry_run_prints_the_replay_plan(run: Run, repo_root: Path) -> None:
    code, out, _ = run("demo", "--dry-run", "--no-serve", template=repo_root / "template.yaml")
    assert code == 0
    days = [line.rstrip(":") for line in out.splitlines() if line.startswith("2024-")]
    assert days == ["2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10"]
    assert "invoke crawl    {'job': 'listing', 'date': '2024-01-03'}" in out
    assert "invoke crawl    {'job': 'prices', 'start': '2023-11-24', 'end': '2024-01-02'}" in out
    assert "sandbox clock → 2024-01-10T16:10:00+09:00" in out
    assert out.count("drain  predict") == 6
    assert "serve the API" not in out


def test_serve_refuses_a_port_in_use(run: Run) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run("serve", "--port", str(port))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "stockinsight"
    if not script.exists():
        pytest.skip("the package is not installed in this environment")
    completed = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0
    for command in ("migrate", "create-admin", "serve", "invoke", "schedule", "drain", "sandbox", "demo"):
        assert command in completed.stdout

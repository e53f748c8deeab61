"""`stockinsight`: the local runner's console script (migrate, serve, invoke, schedule, drain, ...).

Thin on purpose: each command parses its arguments and calls one runner module. Function
output (Powertools' JSON logs and EMF metrics, which go to stdout in Lambda) is sent to
stderr here, so stdout carries only the results, as with `sam local invoke`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from runner.invoke import HandlerLoadError
from runner.template import ScheduleSpec, Template, TemplateError, find_template, load_template

FUNCTION_CHOICES_HELP = "api|crawl|predict|evaluate|notify, or the logical id (ApiFunction, ...)"


class UsageError(Exception):
    """A command cannot run as asked; the message tells the user what to change."""


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@contextlib.contextmanager
def function_output_to(stream: TextIO) -> Iterator[None]:
    """Handlers print logs/metrics to stdout; send them to `stream` instead."""
    with contextlib.redirect_stdout(stream):
        yield


def _template(args: argparse.Namespace) -> Template:
    path = Path(args.template) if args.template else find_template()
    return load_template(path)


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _read_event(raw: str | None) -> Any:
    if raw is None:
        return {}
    text = raw.strip()
    if raw == "-":
        text = sys.stdin.read()
    elif not text.startswith(("{", "[")):
        path = Path(raw)
        if not path.is_file():
            raise UsageError(f"--event is neither JSON nor an existing file: {raw!r}")
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--event is not valid JSON: {exc}") from None


# --------------------------------------------------------------------------- commands


def cmd_migrate(args: argparse.Namespace) -> int:
    from runner.datastores import display_url
    from shared.config import get_settings
    from shared.db.migrate import upgrade_to_head

    url = get_settings().require("database_url")
    upgrade_to_head(url)
    print(f"migrated {display_url(url)} to head")
    return 0


def _read_new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("Password for the new admin: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise UsageError("the passwords do not match")
    if not password:
        raise UsageError("an empty password is not accepted (there is no default password)")
    return password


def cmd_create_admin(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from shared.db.session import session_scope
    from shared.users import service as user_service
    from shared.users.models import Role
    from shared.users.passwords import PasswordPolicyError
    from shared.users.schemas import UserCreate

    password = _read_new_password(args)
    try:
        user_in = UserCreate(email=args.email, password=password, role=Role.ADMIN)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors())
        raise UsageError(f"invalid admin: {problems}") from None
    with session_scope() as db_session:
        try:
            user = user_service.create(db_session=db_session, user_in=user_in)
        except user_service.UserAlreadyExistsError:
            print(f"a user with email {user_in.email} already exists; nothing changed", file=sys.stderr)
            return 1
        except PasswordPolicyError as exc:
            raise UsageError(str(exc)) from None
        print(f"created admin {user.email} (id {user.id})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from runner.gateway import ApiGateway, find_docs_url

    template = _template(args)
    function = template.http_function()
    try:
        gateway = ApiGateway(function, host=args.host, port=args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    with gateway:
        print(f"serving {function.logical_id} ({function.handler_file}) at {gateway.url}", file=sys.stderr)
        print(f"OpenAPI docs: {find_docs_url(gateway.url) or '(none found)'}   Ctrl-C stops", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            gateway.wait()
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    from runner.invoke import error_response, invoke

    template = _template(args)
    function = template.function(args.function)
    event = _read_event(args.event)
    try:
        with function_output_to(sys.stderr):
            invocation = invoke(function, event)
    except Exception as exc:
        print(_json(error_response(exc)))
        return 1
    print(f"{function.name}: {invocation.duration_ms:.0f} ms, request {invocation.request_id}", file=sys.stderr)
    print(_json(invocation.result))
    return 0


def _schedule_event(schedule: ScheduleSpec, *, date: dt.date | None, plain: bool) -> dict[str, Any]:
    from runner.events import KST_NOON, rule_arn, schedule_arn, schedule_input_event, scheduled_event

    if schedule.input is not None and not plain:
        return schedule_input_event(schedule.input, date=date)
    moment = dt.datetime.combine(date, KST_NOON) if date else None
    arn = rule_arn(schedule.name) if schedule.input is None else schedule_arn(schedule.name)
    return scheduled_event(rule_arn=arn, time=moment)


def _print_schedules(schedules: Sequence[ScheduleSpec], template: Template) -> None:
    rows = [
        (
            schedule.name,
            template.functions[schedule.function].name,
            f"{schedule.expression} {schedule.timezone or 'UTC'}",
            json.dumps(dict(schedule.input)) if schedule.input is not None else "(scheduled event)",
            "" if schedule.enabled else "disabled",
        )
        for schedule in schedules
    ]
    headers = ("NAME", "FUNCTION", "SCHEDULE", "INPUT", "")
    widths = [max(len(str(row[index])) for row in [headers, *rows]) for index in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_schedule(args: argparse.Namespace) -> int:
    from runner.invoke import error_response, invoke

    template = _template(args)
    schedules = template.schedules
    if not (args.function or args.job or args.name):
        if args.date:
            raise UsageError("--date needs --function, --job or --name to choose what to fire")
        _print_schedules(schedules, template)
        return 0
    if args.function:
        wanted = template.function(args.function).logical_id
        schedules = [schedule for schedule in schedules if schedule.function == wanted]
    if args.job:
        schedules = [schedule for schedule in schedules if schedule.job == args.job]
    if args.name:
        schedules = [schedule for schedule in schedules if schedule.name == args.name]
    if not schedules:
        raise UsageError("no schedule matches; run `stockinsight schedule` to list them")
    # Two schedules with one input (one job on two crons) are one run, not two.
    distinct: dict[tuple[str, str], ScheduleSpec] = {}
    for schedule in schedules:
        distinct.setdefault((schedule.function, json.dumps(schedule.input, sort_keys=True)), schedule)
    status = 0
    for schedule in distinct.values():
        function = template.functions[schedule.function]
        event = _schedule_event(schedule, date=args.date, plain=args.scheduled_event)
        print(f"firing {schedule.name} → {function.name} with {json.dumps(event)}", file=sys.stderr)
        with function_output_to(sys.stderr):
            try:
                result: Any = invoke(function, event).result
            except Exception as exc:
                result, status = error_response(exc), 1
        print(_json(result))
    return status


def cmd_drain(args: argparse.Namespace) -> int:
    import os

    from runner.sqs import drain, find_queues, sqs_client
    from shared.config import get_settings

    template = _template(args)
    settings = get_settings()
    if not settings.aws_endpoint_url:
        raise UsageError(
            "drain delivers from a local SQS (moto, LocalStack): set AWS_ENDPOINT_URL "
            "(`stockinsight sandbox` prints it along with the queue URLs)"
        )
    client = sqs_client(settings.aws_endpoint_url, region=settings.aws_region)
    queues = find_queues(client, template, os.environ)
    with function_output_to(sys.stderr):
        reports = drain(
            client,
            template,
            queues,
            function=args.function,
            retry_delay_seconds=args.retry_delay,
            max_rounds=args.max_rounds,
        )
    for report in reports:
        print(
            f"{report.queue} → {report.function}: {report.delivered} delivered in {report.invocations} batches, "
            f"{report.failed} failed deliveries, {report.dead_lettered} dead-lettered, {report.remaining} left"
        )
    return 0 if all(report.remaining == 0 for report in reports) else 1


def cmd_sandbox(args: argparse.Namespace) -> int:
    from runner.sqs import LocalAws, create_queues, queue_environment, sqs_client
    from runner.upstreams import aws_environment, sandbox_environment, shell_exports, start_sandbox

    template = _template(args)
    with contextlib.ExitStack() as stack:
        sandbox = start_sandbox(port=args.port)
        stack.callback(sandbox.stop)
        environment = sandbox_environment(sandbox)
        if not args.no_aws:
            aws = stack.enter_context(LocalAws(port=args.aws_port))
            queues = create_queues(sqs_client(aws.endpoint_url), template)
            environment.update(aws_environment(aws.endpoint_url, queue_environment(template, queues)))
        print(f"# upstream sandbox at {sandbox.base_url}; paste these into the shell that runs the functions:")
        print(shell_exports(environment), flush=True)
        print("# Ctrl-C stops the sandbox", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from runner.demo import DemoOptions, describe_plan, run_demo

    template = _template(args)
    options = DemoOptions(
        start=args.start,
        days=args.days,
        backfill_days=args.backfill_days,
        port=args.port,
        serve=not args.no_serve,
        state_dir=Path(args.state_dir) if args.state_dir else template.path.parent / ".local",
    )
    if args.dry_run:
        print(describe_plan(template, options))
        return 0
    return run_demo(template, options)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockinsight",
        description="Run StockInsight's functions locally from template.yaml, without Docker.",
    )
    parser.add_argument("--template", help="path to template.yaml (default: found from the current directory)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="upgrade DATABASE_URL to the latest Alembic revision")
    migrate.set_defaults(handler=cmd_migrate)

    admin = commands.add_parser("create-admin", help="create an admin user (prompts for the password)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    admin.set_defaults(handler=cmd_create_admin)

    serve = commands.add_parser("serve", help="serve the api function over HTTP (API Gateway v2 events)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.set_defaults(handler=cmd_serve)

    invoke = commands.add_parser("invoke", help="invoke one function with an event; prints its result")
    invoke.add_argument("function", metavar="FUNCTION", help=FUNCTION_CHOICES_HELP)
    invoke.add_argument("--event", help="the event: inline JSON, a file path, or - for stdin (default: {})")
    invoke.set_defaults(handler=cmd_invoke)

    schedule = commands.add_parser("schedule", help="list template.yaml's schedules, or fire the matching ones")
    schedule.add_argument("--function", help=FUNCTION_CHOICES_HELP)
    schedule.add_argument("--job", help="the schedule Input's job (prices, news, run, ...)")
    schedule.add_argument("--name", help="the schedule's event name (CrawlPricesSchedule, ...)")
    schedule.add_argument("--date", type=_parse_date, help="run as on this trading day (YYYY-MM-DD)")
    schedule.add_argument(
        "--scheduled-event",
        action="store_true",
        help="send a plain EventBridge 'Scheduled Event' instead of the schedule's Input",
    )
    schedule.set_defaults(handler=cmd_schedule)

    drain = commands.add_parser("drain", help="deliver pending SQS messages to their consumers until empty")
    drain.add_argument("--function", help=FUNCTION_CHOICES_HELP)
    drain.add_argument("--retry-delay", type=int, default=1, help="seconds before a failed message is visible again")
    drain.add_argument("--max-rounds", type=int, default=20)
    drain.set_defaults(handler=cmd_drain)

    sandbox = commands.add_parser("sandbox", help="run the upstream sandbox (and local SQS) in the foreground")
    sandbox.add_argument("--port", type=int, default=8900)
    sandbox.add_argument("--aws-port", type=int, default=0, help="port for moto's server (default: any free)")
    sandbox.add_argument("--no-aws", action="store_true", help="only the upstream sandbox, no local SQS")
    sandbox.set_defaults(handler=cmd_sandbox)

    demo = commands.add_parser("demo", help="the offline demo: replay real market days, then serve the API")
    demo.add_argument("--days", type=int, default=6, help="trading days to replay (default 6)")
    demo.add_argument("--start", type=_parse_date, default=dt.date(2024, 1, 3), help="first replayed day")
    demo.add_argument("--backfill-days", type=int, default=25, help="trading days of prices loaded before it")
    demo.add_argument("--port", type=int, default=3000)
    demo.add_argument("--no-serve", action="store_true", help="stop after the replay")
    demo.add_argument("--state-dir", help="where embedded servers keep their files (default: .local/)")
    demo.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _terminate_gracefully(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so every server the command started is stopped.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("serve", "sandbox", "demo"):
        signal.signal(signal.SIGTERM, _terminate_gracefully)
    try:
        return int(args.handler(args))
    except (UsageError, TemplateError, HandlerLoadError) as exc:
        print(f"stockinsight {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

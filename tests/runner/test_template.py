"""template.yaml → typed specs: the fixture template in detail, then the real template's contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runner.template import (
    CloudFormationLoader,
    Intrinsic,
    Template,
    TemplateError,
    find_template,
    load_template,
    parse_template,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_functions_come_from_dockerfile_folders_with_their_handlers(fixture_template: Template) -> None:
    functions = fixture_template.functions
    assert list(functions) == ["WebFunction", "JobsFunction", "ConsumerFunction"]
    web = functions["WebFunction"]
    assert web.name == "web"
    assert web.code_dir == FIXTURES / "functions" / "web"
    assert web.handler_file == FIXTURES / "functions" / "web" / "handler.py"
    assert web.handler_attribute == "lambda_handler"
    # No ImageConfig.Command: the image's CMD decides.
    consumer = functions["ConsumerFunction"]
    assert consumer.handler == "handler.consume"
    assert consumer.handler_attribute == "consume"


def test_timeout_and_memory_fall_back_to_globals(fixture_template: Template) -> None:
    web, jobs, consumer = fixture_template.functions.values()
    assert (web.timeout_seconds, web.memory_mb) == (5, 256)
    assert (jobs.timeout_seconds, jobs.memory_mb) == (60, 512)
    assert (consumer.timeout_seconds, consumer.memory_mb) == (10, 256)


def test_environment_merges_globals_and_function_and_sets_aside_intrinsics(fixture_template: Template) -> None:
    jobs = fixture_template.function("jobs")
    assert jobs.environment == {
        "ENVIRONMENT": "production",
        "FIXTURE_GLOBAL": "from-globals",
        "FIXTURE_OVERRIDDEN": "from-function",
        "POWERTOOLS_SERVICE_NAME": "jobs",
    }
    assert jobs.unresolved_environment == {"STAGE", "SECRETS_SSM_PATH", "WORK_QUEUE_URL"}
    assert jobs.environment_refs == {"STAGE": "Stage", "WORK_QUEUE_URL": "WorkQueue"}
    assert fixture_template.queue_url_variables() == {"WORK_QUEUE_URL": "WorkQueue"}


def test_schedules_carry_their_input_and_state(fixture_template: Template) -> None:
    schedules = {schedule.name: schedule for schedule in fixture_template.schedules}
    daily = schedules["JobsDailySchedule"]
    assert daily.function == "JobsFunction"
    assert daily.expression == "cron(10 16 ? * MON-FRI *)"
    assert daily.timezone == "Asia/Seoul"
    assert daily.input == {"job": "daily"}
    assert daily.job == "daily"
    assert daily.enabled
    assert schedules["JobsMorningSchedule"].input == {"job": "hourly", "pages": 2}
    legacy = schedules["JobsLegacyRule"]
    assert (legacy.expression, legacy.input, legacy.timezone, legacy.enabled) == ("rate(1 day)", None, None, False)


def test_sqs_sources_and_queues_with_redrive(fixture_template: Template) -> None:
    (source,) = fixture_template.sqs_sources
    assert source.function == "ConsumerFunction"
    assert source.queue == "WorkQueue"
    assert source.batch_size == 5
    assert source.report_batch_item_failures
    assert source.maximum_concurrency == 2
    assert fixture_template.consumers_of("WorkQueue") == [source]
    work = fixture_template.queue("WorkQueue")
    assert work.attributes == {"VisibilityTimeout": "60"}
    assert work.redrive is not None
    assert (work.redrive.dead_letter_queue, work.redrive.max_receive_count) == ("WorkDeadLetterQueue", 2)
    assert fixture_template.queue("WorkDeadLetterQueue").redrive is None


def test_http_routes_name_the_api_function(fixture_template: Template) -> None:
    web = fixture_template.http_function()
    assert web.name == "web"
    assert [(route.method, route.path, route.api) for route in web.http_routes] == [
        ("ANY", "/{proxy+}", "HttpApi"),
        ("GET", "/", "HttpApi"),
    ]


def test_functions_are_found_by_short_name_or_logical_id(fixture_template: Template) -> None:
    assert fixture_template.function("jobs") is fixture_template.function("JobsFunction")
    assert fixture_template.function("JOBSFUNCTION").name == "jobs"
    with pytest.raises(TemplateError, match=r"no function 'nope'.*web \(WebFunction\)"):
        fixture_template.function("nope")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("!Ref Stage", Intrinsic("Ref", "Stage")),
        ("!GetAtt Queue.Arn", Intrinsic("GetAtt", ["Queue", "Arn"])),
        ("!GetAtt [Queue, Arn]", Intrinsic("GetAtt", ["Queue", "Arn"])),
        ("!Sub /x/${Stage}/", Intrinsic("Sub", "/x/${Stage}/")),
        ("!Join [',', !Ref List]", Intrinsic("Join", [",", Intrinsic("Ref", "List")])),
        ("!If [Cond, a, !Ref AWS::NoValue]", Intrinsic("If", ["Cond", "a", Intrinsic("Ref", "AWS::NoValue")])),
        ("!Not [!Equals [!Ref A, '']]", Intrinsic("Not", [Intrinsic("Equals", [Intrinsic("Ref", "A"), ""])])),
        ("!Select [0, !GetAZs '']", Intrinsic("Select", [0, Intrinsic("GetAZs", "")])),
        ("!Split [',', 'a,b']", Intrinsic("Split", [",", "a,b"])),
        ("!FindInMap [M, K, V]", Intrinsic("FindInMap", ["M", "K", "V"])),
        ("!Condition IsProd", Intrinsic("Condition", "IsProd")),
        ("!ImportValue Shared", Intrinsic("ImportValue", "Shared")),
        ("!Base64 text", Intrinsic("Base64", "text")),
        ("!Cidr [10.0.0.0/16, 4, 8]", Intrinsic("Cidr", ["10.0.0.0/16", 4, 8])),
        (
            "!And [!Condition A, !Condition B]",
            Intrinsic("And", [Intrinsic("Condition", "A"), Intrinsic("Condition", "B")]),
        ),
        (
            "!Or [!Condition A, !Condition B]",
            Intrinsic("Or", [Intrinsic("Condition", "A"), Intrinsic("Condition", "B")]),
        ),
    ],
)
def test_short_tags_load_as_intrinsics(source: str, expected: Intrinsic) -> None:
    assert yaml.load(f"value: {source}", Loader=CloudFormationLoader) == {"value": expected}  # noqa: S506


def test_unknown_tags_are_still_refused() -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.load("value: !python/object:os.system ls", Loader=CloudFormationLoader)  # noqa: S506


def _zip_function(**properties: object) -> dict[str, object]:
    return {"Type": "AWS::Serverless::Function", "Properties": properties}


def test_long_form_intrinsics_and_zip_functions(tmp_path: Path) -> None:
    document = {
        "Resources": {
            "Worker": _zip_function(
                CodeUri="src/worker",
                Handler="app.main",
                Environment={"Variables": {"QUEUE": {"Ref": "Jobs"}, "LEVEL": 3, "ON": True}},
                Events={
                    "Jobs": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": "Jobs.Arn"}}},
                    "Nightly": {"Type": "Schedule", "Properties": {"Schedule": "cron(0 0 * * ? *)", "Input": "{}"}},
                },
            ),
            "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
        }
    }
    template = parse_template(document, path=tmp_path / "template.yaml")
    worker = template.function("worker")
    assert worker.code_dir == tmp_path / "src" / "worker"
    assert worker.handler_file == tmp_path / "src" / "worker" / "app.py"
    assert worker.environment == {"LEVEL": "3", "ON": "true"}
    assert worker.environment_refs == {"QUEUE": "Jobs"}
    assert worker.sqs_sources[0].queue == "Jobs"
    assert worker.sqs_sources[0].batch_size == 10
    assert not worker.sqs_sources[0].report_batch_item_failures
    assert worker.schedules[0].input == {}
    assert template.queue("Jobs").queue_name == "Jobs.fifo"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            {"F": {"Type": "AWS::Serverless::Function", "Properties": {"PackageType": "Image"}}},
            "needs Metadata.Dockerfile",
        ),
        ({"F": _zip_function(CodeUri="f")}, "needs CodeUri and Handler"),
        (
            {
                "F": _zip_function(
                    CodeUri="f",
                    Handler="h.h",
                    Events={
                        "S": {"Type": "ScheduleV2", "Properties": {"ScheduleExpression": "rate(1 hour)", "Input": "{"}}
                    },
                )
            },
            "F.S: Input is not valid JSON",
        ),
        (
            {
                "F": _zip_function(
                    CodeUri="f",
                    Handler="h.h",
                    Events={"Q": {"Type": "SQS", "Properties": {"Queue": "arn:aws:sqs:x"}}},
                )
            },
            "Queue must be !GetAtt",
        ),
        (
            {
                "F": _zip_function(
                    CodeUri="f",
                    Handler="h.h",
                    Events={"Q": {"Type": "SQS", "Properties": {"Queue": Intrinsic("GetAtt", ["Gone", "Arn"])}}},
                )
            },
            "queue 'Gone' is not defined",
        ),
        (
            {
                "Q": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {"RedrivePolicy": {"deadLetterTargetArn": Intrinsic("GetAtt", ["Nope", "Arn"])}},
                }
            },
            "dead-letter queue 'Nope' is not a queue",
        ),
        ({}, "has no Resources"),
    ],
)
def test_what_the_runner_cannot_use_is_named(resources: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template({"Resources": resources}, path=tmp_path / "template.yaml")


def test_missing_or_broken_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="template not found"):
        load_template(tmp_path / "template.yaml")
    (tmp_path / "template.yaml").write_text("Resources: [unclosed\n")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template(tmp_path / "template.yaml")


def test_find_template_walks_up_from_a_subdirectory(fixture_template_path: Path) -> None:
    assert find_template(fixture_template_path.parent / "functions" / "web") == fixture_template_path


# --------------------------------------------------------------------------- the real template


@pytest.fixture
def real_template(repo_root: Path) -> Template:
    return load_template(repo_root / "template.yaml")


def test_real_template_has_the_five_functions_in_their_folders(real_template: Template, repo_root: Path) -> None:
    names = {spec.logical_id: spec.name for spec in real_template.functions.values()}
    assert names == {
        "ApiFunction": "api",
        "CrawlFunction": "crawl",
        "PredictFunction": "predict",
        "EvaluateFunction": "evaluate",
        "NotifyFunction": "notify",
    }
    for spec in real_template.functions.values():
        assert spec.code_dir == repo_root / "functions" / spec.name
        assert spec.handler == "handler.lambda_handler"
        assert spec.handler_file.is_file(), spec.handler_file
        assert spec.timeout_seconds > 3
    assert real_template.http_function().name == "api"


def test_real_template_schedules_send_the_documented_jobs(real_template: Template) -> None:
    jobs = {(real_template.functions[s.function].name, s.job) for s in real_template.schedules}
    assert jobs == {
        ("crawl", "listing"),
        ("crawl", "prices"),
        ("crawl", "quotes"),
        ("crawl", "news"),
        ("crawl", "embed"),
        ("predict", "run"),
        ("evaluate", "run"),
        ("notify", "daily_summary"),
    }
    for schedule in real_template.schedules:
        assert schedule.expression.startswith("cron(")
        assert schedule.timezone == "Asia/Seoul"
        assert schedule.input is not None and set(schedule.input) == {"job"}


def test_real_template_queues_feed_predict_and_notify_with_dead_letter_queues(real_template: Template) -> None:
    consumers = {source.queue: real_template.functions[source.function].name for source in real_template.sqs_sources}
    assert consumers == {"PredictQueue": "predict", "NotifyQueue": "notify"}
    assert all(source.report_batch_item_failures for source in real_template.sqs_sources)
    for queue, dead_letter in (("PredictQueue", "PredictDeadLetterQueue"), ("NotifyQueue", "NotifyDeadLetterQueue")):
        redrive = real_template.queue(queue).redrive
        assert redrive is not None
        assert (redrive.dead_letter_queue, redrive.max_receive_count) == (dead_letter, 5)
    assert real_template.queue_url_variables() == {
        "PREDICT_QUEUE_URL": "PredictQueue",
        "NOTIFY_QUEUE_URL": "NotifyQueue",
    }

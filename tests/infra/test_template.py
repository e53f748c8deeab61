"""template.yaml: lint, a strict SAM-transform-then-lint check, schedules and structure.

No network and no Docker: cfn-lint and aws-sam-translator run in-process; the SAM
transform gets a stub managed-policy loader and a fixed region instead of AWS.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint, lint_file
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from shared.config import SECRET_FIELDS, Settings
from tests.infra.cfn_yaml import REPO_ROOT, TEMPLATE_PATH, load_template

REGION = "ap-northeast-2"
# cfn-lint checks switched off for this template, each with its reason. None are needed:
# any error (E) or warning (W) fails.
IGNORED_CHECKS: dict[str, str] = {}
LINT_CONFIG = ManualArgs(regions=[REGION], ignore_checks=list(IGNORED_CHECKS))
# `sam build` fills ImageUri for Image functions; the transform needs one.
PLACEHOLDER_IMAGE_URI = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/stockinsight:python3.12-v1"

FUNCTIONS = {
    "ApiFunction": "api",
    "CrawlFunction": "crawl",
    "PredictFunction": "predict",
    "EvaluateFunction": "evaluate",
    "NotifyFunction": "notify",
}
MEMORY_AND_TIMEOUT = {
    "ApiFunction": (1024, 29),
    "CrawlFunction": (1024, 900),
    "PredictFunction": (1024, 300),
    "EvaluateFunction": (1024, 600),
    "NotifyFunction": (512, 120),
}
ALLOWED_JOBS = {
    "CrawlFunction": {"listing", "prices", "quotes", "news", "embed"},
    "PredictFunction": {"run"},
    "EvaluateFunction": {"run"},
    "NotifyFunction": {"daily_summary"},
}
# Which queues each function may send to (SQSSendMessagePolicy).
SENDS_TO = {
    "ApiFunction": set(),
    "CrawlFunction": {"NotifyQueue"},
    "PredictFunction": {"PredictQueue", "NotifyQueue"},
    "EvaluateFunction": {"NotifyQueue"},
    "NotifyFunction": set(),
}
# Secrets live in SSM under SECRETS_SSM_PATH: never a value in the template.
SECRET_NAMES = frozenset(
    {
        "DATABASE_URL",
        "JWT_SECRET",
        "OPENAI_API_KEY",
        "KIS_APP_KEY",
        "KIS_APP_SECRET",
        "NAVER_CLIENT_SECRET",
        "TELEGRAM_BOT_TOKEN",
        "KRX_AUTH_KEY",
        "KRX_PW",
    }
    | {name.upper() for name in SECRET_FIELDS}
)
WEEKDAYS = frozenset({2, 3, 4, 5, 6})  # AWS cron day-of-week: SUN=1 ... SAT=7


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def events_of(template: dict[str, Any], event_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(function logical id, event name, event properties) for every event of a type."""
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for event_name, event in function["Properties"].get("Events", {}).items():
            if event["Type"] == event_type:
                yield function_id, event_name, event["Properties"]


def ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def getatt(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return resource, attribute
    return None


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, str(index)))


# ---------------------------------------------------------------------------- AWS cron / rate


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: dict[str, int]
    # Wildcards the field accepts besides digits, "," and "-" (AWS EventBridge/Scheduler rules).
    wildcards: str


MONTH_NAMES = {
    m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
DAY_NAMES = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
CRON_FIELDS = (
    CronField("minutes", 0, 59, {}, "*/"),
    CronField("hours", 0, 23, {}, "*/"),
    CronField("day-of-month", 1, 31, {}, "*?/LW"),
    CronField("month", 1, 12, MONTH_NAMES, "*/"),
    CronField("day-of-week", 1, 7, DAY_NAMES, "*?L#"),
    CronField("year", 1970, 2199, {}, "*/"),
)
RATE_RE = re.compile(r"rate\((?P<value>[0-9]+) (?P<unit>minutes?|hours?|days?)\)")
CRON_RE = re.compile(r"cron\((?P<body>[^()]*)\)")


def _cron_value(field: CronField, token: str) -> int:
    if token.upper() in field.names:
        return field.names[token.upper()]
    if not token.isdigit():
        raise ValueError(f"{field.name}: {token!r} is not a number{' or name' if field.names else ''}")
    value = int(token)
    if not field.low <= value <= field.high:
        raise ValueError(f"{field.name}: {value} is outside {field.low}-{field.high}")
    return value


def _cron_item(field: CronField, item: str) -> set[int] | None:
    """Values of one comma-separated item; None for forms that name no fixed set (L, W, #)."""
    if item == "*":
        return set(range(field.low, field.high + 1))
    if field.name == "day-of-month" and (item in {"L", "LW"} or re.fullmatch(r"[0-9]{1,2}W", item)):
        if item.endswith("W") and item != "LW":
            _cron_value(field, item[:-1])
        return None
    if field.name == "day-of-week" and (item == "L" or re.fullmatch(r"[0-9A-Za-z]{1,3}L", item)):
        if item != "L":
            _cron_value(field, item[:-1])
        return None
    if field.name == "day-of-week" and "#" in item:
        day, _, nth = item.partition("#")
        _cron_value(field, day)
        if not (nth.isdigit() and 1 <= int(nth) <= 5):
            raise ValueError(f"{field.name}: {item!r} needs the nth weekday 1-5 after '#'")
        return None
    base, slash, step_text = item.partition("/")
    if slash and "/" not in field.wildcards:
        raise ValueError(f"{field.name}: '/' is not allowed in this field")
    if base == "*":
        start, end = field.low, field.high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _cron_value(field, first), _cron_value(field, last)
        if start > end:
            raise ValueError(f"{field.name}: range {base!r} runs backwards")
    else:
        start = _cron_value(field, base)
        end = field.high if slash else start
    step = 1
    if slash:
        if not step_text.isdigit() or not 1 <= int(step_text) <= field.high:
            raise ValueError(f"{field.name}: bad step {step_text!r} in {item!r}")
        step = int(step_text)
    return set(range(start, end + 1, step))


def parse_cron(expression: str) -> list[set[int] | None]:
    """Validate an AWS cron(...) expression; the value set of each of its six fields.

    Raises ValueError naming the first problem. A field of "?" or a form such as L/W/#
    gives None (no fixed set of values).
    """
    match = CRON_RE.fullmatch(expression)
    if not match:
        raise ValueError(f"{expression!r} is not of the form cron(...)")
    parts = match["body"].split(" ")
    if len(parts) != 6 or any(part == "" for part in parts):
        raise ValueError(
            f"{expression!r} has {len(parts)} fields; AWS cron needs 6 single-space-separated fields: "
            "minutes hours day-of-month month day-of-week year"
        )
    day_of_month, day_of_week = parts[2], parts[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    values: list[set[int] | None] = []
    for field, text in zip(CRON_FIELDS, parts, strict=True):
        if text == "?":
            values.append(None)
            continue
        allowed = set(field.wildcards) | set("0123456789,-") | {c for name in field.names for c in name}
        if bad := sorted(set(text.upper()) - allowed):
            raise ValueError(f"{field.name}: {text!r} uses {''.join(bad)!r}, not allowed in this field")
        items = text.split(",")
        if len(items) > 1 and any(item in {"*", "?", "L"} for item in items):
            raise ValueError(f"{field.name}: '*', '?' and 'L' cannot be part of a list in {text!r}")
        field_values: set[int] | None = set()
        for item in items:
            item_values = _cron_item(field, item)
            field_values = None if item_values is None or field_values is None else field_values | item_values
        values.append(field_values)
    return values


def schedule_expression_problems(expression: str) -> list[str]:
    if expression.startswith("rate("):
        match = RATE_RE.fullmatch(expression)
        if not match:
            return [f"{expression!r} is not rate(<value> <minute(s)|hour(s)|day(s)>)"]
        value, unit = int(match["value"]), match["unit"]
        if value < 1:
            return [f"{expression!r}: the rate must be at least 1"]
        if (value == 1) == unit.endswith("s"):
            return [f"{expression!r}: use the singular unit for 1 and the plural otherwise"]
        return []
    try:
        parse_cron(expression)
    except ValueError as exc:
        return [str(exc)]
    return []


def kst_fire_times(expression: str) -> set[tuple[int, str]]:
    """(AWS day-of-week, "HH:MM") at which a weekly cron(...) fires, in its own timezone."""
    minutes, hours, day_of_month, month, day_of_week, year = parse_cron(expression)
    assert month == set(range(1, 13)) and year == set(range(1970, 2200)), f"{expression}: not a weekly schedule"
    if day_of_week is None:  # day-of-month "*" : every day
        assert day_of_month == set(range(1, 32)), f"{expression}: not a weekly schedule"
        day_of_week = set(range(1, 8))
    assert minutes is not None and hours is not None
    return {(day, f"{hour:02d}:{minute:02d}") for day in day_of_week for hour in hours for minute in minutes}


def every(start: str, end: str, step_minutes: int) -> set[str]:
    """HH:MM times from start to end inclusive."""
    first = int(start[:2]) * 60 + int(start[3:])
    last = int(end[:2]) * 60 + int(end[3:])
    return {f"{t // 60:02d}:{t % 60:02d}" for t in range(first, last + 1, step_minutes)}


def schedules(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    yield from events_of(template, "ScheduleV2")
    yield from events_of(template, "Schedule")


# ---------------------------------------------------------------------------- the strict check


class _NoAwsManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which calls IAM.

    samtranslator resolves AWS managed policy names from its bundled map first; only a name
    it does not know reaches this loader, and with an empty map it is left as is, so the
    lint of the output reports it as a malformed policy ARN.
    """

    def load(self) -> dict[str, str]:
        return {}


def sam_transform(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would produce (ImageUri as `sam build` sets it)."""
    sam_template = copy.deepcopy(sam_template)
    for resource in sam_template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = resource.setdefault("Properties", {})
            if properties.get("PackageType") == "Image":
                properties.setdefault("ImageUri", PLACEHOLDER_IMAGE_URI)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    loader = _NoAwsManagedPolicyLoader()
    result: dict[str, Any] = translator.translate(
        sam_template,
        # A CommaDelimitedList value: SAM inlines it into the HTTP API's CORS configuration.
        parameter_values={"CorsOrigins": ["https://app.example.com", "http://localhost:3000"]},
        get_managed_policy_map=loader.load,
    )
    return result


def format_matches(matches: list[Any]) -> list[str]:
    return [f"{m.rule.id} {m.message} at {'/'.join(map(str, getattr(m, 'path', None) or []))}" for m in matches]


def strict_problems(sam_template: dict[str, Any]) -> list[str]:
    """Every schedule expression is valid AWS syntax, the SAM transform succeeds, and
    cfn-lint finds nothing in the CloudFormation it produces.

    cfn-lint on the SAM source validates SAM properties only loosely (event properties
    pass through), so a misspelt queue in an SQS event or a string BatchSize only shows
    up in the transformed template's AWS::Lambda::EventSourceMapping.
    """
    problems = [
        f"{function_id}.{event_name}: {problem}"
        for function_id, event_name, properties in schedules(sam_template)
        for problem in schedule_expression_problems(str(properties.get("ScheduleExpression")))
    ]
    try:
        cloudformation = sam_transform(sam_template)
    except InvalidDocumentException as exc:
        return [*problems, *(f"SAM transform: {cause.message}" for cause in exc.causes)]
    return [*problems, *format_matches(lint(json.dumps(cloudformation), config=LINT_CONFIG))]


# ---------------------------------------------------------------------------- 1. cfn-lint


def test_cfn_lint_passes() -> None:
    problems = format_matches(lint_file(TEMPLATE_PATH, config=LINT_CONFIG))
    assert problems == [], "\n".join(problems)


# ---------------------------------------------------------------------------- 2. strict check


def test_strict_check_passes(template: dict[str, Any]) -> None:
    problems = strict_problems(template)
    assert problems == [], "\n".join(problems)


def _set_event_property(function_id: str, event: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(t: dict[str, Any]) -> None:
        t["Resources"][function_id]["Properties"]["Events"][event]["Properties"][key] = value

    return mutate


def _set_event_type(function_id: str, event: str, event_type: str) -> Callable[[dict[str, Any]], None]:
    def mutate(t: dict[str, Any]) -> None:
        t["Resources"][function_id]["Properties"]["Events"][event]["Type"] = event_type

    return mutate


def _set_resource_property(resource_id: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(t: dict[str, Any]) -> None:
        t["Resources"][resource_id]["Properties"][key] = value

    return mutate


# Each mutation is a mistake the plain cfn-lint run on the SAM source does not report
# (cfn-lint 1.x validates SAM event properties as pass-through); the strict check must,
# naming the offending value. Caught by the transform (BatchSize type, event type), by
# cfn-lint on its output (missing queue, MaximumConcurrency < 2, policy on a missing
# queue) or by the schedule-expression validator (crons).
MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "batch size is a word": (
        _set_event_property("PredictFunction", "PredictQueueMessages", "BatchSize", "ten"),
        "BatchSize",
    ),
    "sqs event names a missing queue": (
        _set_event_property(
            "PredictFunction", "PredictQueueMessages", "Queue", {"Fn::GetAtt": ["PredictQeueu", "Arn"]}
        ),
        "PredictQeueu",
    ),
    "maximum concurrency below 2": (
        _set_event_property("NotifyFunction", "NotifyQueueMessages", "ScalingConfig", {"MaximumConcurrency": 1}),
        "MaximumConcurrency",
    ),
    "five-field cron": (
        _set_event_property("CrawlFunction", "CrawlPricesSchedule", "ScheduleExpression", "cron(10 16 * * MON-FRI)"),
        "AWS cron needs 6",
    ),
    "cron with both day fields": (
        _set_event_property("CrawlFunction", "CrawlPricesSchedule", "ScheduleExpression", "cron(10 16 * * MON-FRI *)"),
        "exactly one of day-of-month and day-of-week",
    ),
    "misspelt event type": (_set_event_type("NotifyFunction", "NotifyQueueMessages", "SQSS"), "SAM transform"),
    "send policy on a missing queue": (
        _set_resource_property(
            "EvaluateFunction",
            "Policies",
            [
                {"Ref": "SecretsReadPolicy"},
                {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["NotifyQ", "QueueName"]}}},
            ],
        ),
        "'NotifyQ'",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_strict_check_catches(template: dict[str, Any], mutation: str) -> None:
    mutate, expected = MUTATIONS[mutation]
    broken = copy.deepcopy(template)
    mutate(broken)
    problems = strict_problems(broken)
    assert any(expected in problem for problem in problems), f"{mutation}: expected {expected!r} in {problems}"


# ---------------------------------------------------------------------------- 3. schedules


@pytest.mark.parametrize(
    "expression",
    [
        "cron(30 7 ? * MON-FRI *)",
        "cron(0/30 7-18 ? * MON-FRI *)",
        "cron(0,5,10,15,20,25 15 ? * MON-FRI *)",
        "cron(0 12 * * ? *)",
        "cron(15 10 ? * 6L 2022-2023)",
        "cron(0 9 ? * 2#1 *)",
        "cron(0 18 LW * ? *)",
        "cron(0 8 1 JAN-MAR ? *)",
        "cron(*/10 * ? * * *)",
        "rate(5 minutes)",
        "rate(1 hour)",
    ],
)
def test_schedule_expression_validator_accepts(expression: str) -> None:
    assert schedule_expression_problems(expression) == []


@pytest.mark.parametrize(
    "expression",
    [
        "cron(10 16 * * MON-FRI)",  # five fields (Unix cron)
        "cron(10 16 * * MON-FRI *)",  # both day fields set
        "cron(10 16 ? * ? *)",  # neither day field set
        "cron(60 16 ? * MON-FRI *)",  # minute out of range
        "cron(10 24 ? * MON-FRI *)",  # hour out of range
        "cron(10 16 ? * MON-FRY *)",  # not a day name
        "cron(10 16 ? * 0 *)",  # day-of-week is 1-7
        "cron(10 16 ? * FRI-MON *)",  # backwards range
        "cron(0/0 16 ? * MON-FRI *)",  # zero step
        "cron(10 16 ? * MON/2 *)",  # no '/' in day-of-week
        "cron(10 16 ? 13 MON-FRI *)",  # month out of range
        "cron(10  16 ? * MON-FRI *)",  # double space
        "cron(*,5 16 ? * MON-FRI *)",  # '*' inside a list
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "at(2026-11-20T16:10:00)",  # one-off, not a recurring job
    ],
)
def test_schedule_expression_validator_rejects(expression: str) -> None:
    assert schedule_expression_problems(expression) != []


def test_schedules_are_kst_with_a_known_job(template: dict[str, Any]) -> None:
    found = list(schedules(template))
    assert found, "no schedules in template.yaml"
    for function_id, event_name, properties in found:
        where = f"{function_id}.{event_name}"
        assert properties.get("ScheduleExpressionTimezone") == "Asia/Seoul", where
        assert schedule_expression_problems(properties["ScheduleExpression"]) == [], where
        payload = json.loads(properties["Input"])
        assert isinstance(payload, dict), where
        assert payload.get("job") in ALLOWED_JOBS[function_id], f"{where}: job {payload.get('job')!r}"
        assert set(payload) <= {"job", "date", "start", "end"}, f"{where}: unexpected keys {sorted(payload)}"
        assert event_name.startswith(function_id.removesuffix("Function")), f"{where}: name says whose job it is"
        assert event_name.endswith("Schedule"), where


def job_fire_times(template: dict[str, Any]) -> dict[tuple[str, str], set[tuple[int, str]]]:
    times: dict[tuple[str, str], set[tuple[int, str]]] = {}
    for function_id, _, properties in schedules(template):
        job = json.loads(properties["Input"])["job"]
        times.setdefault((function_id, job), set()).update(kst_fire_times(properties["ScheduleExpression"]))
    return times


def on_weekdays(clock_times: set[str]) -> set[tuple[int, str]]:
    return {(day, clock) for day in WEEKDAYS for clock in clock_times}


def test_schedules_follow_the_market_day(template: dict[str, Any]) -> None:
    """KST, weekdays (holidays are skipped by the handlers); regular session 09:00-15:30."""
    expected = {
        ("CrawlFunction", "listing"): on_weekdays({"07:30"}),
        ("CrawlFunction", "news"): on_weekdays(every("07:00", "18:30", 30)),
        ("CrawlFunction", "embed"): on_weekdays(every("07:10", "18:40", 30)),
        ("CrawlFunction", "quotes"): on_weekdays(every("09:00", "15:25", 5)),
        ("CrawlFunction", "prices"): on_weekdays({"16:10"}),
        ("PredictFunction", "run"): on_weekdays({"08:20"}),
        ("EvaluateFunction", "run"): on_weekdays({"16:40"}),
        ("NotifyFunction", "daily_summary"): on_weekdays({"17:00"}),
    }
    actual = job_fire_times(template)
    for key in sorted(expected.keys() | actual.keys()):
        missing = sorted(expected.get(key, set()) - actual.get(key, set()))[:5]
        extra = sorted(actual.get(key, set()) - expected.get(key, set()))[:5]
        assert not missing and not extra, f"{key}: missing {missing}, unexpected {extra}"


def test_schedule_order_matches_the_market_rhythm(template: dict[str, Any]) -> None:
    """The dependencies between jobs, stated as such (a retimed schedule must keep them)."""
    times = {key: {clock for _, clock in fires} for key, fires in job_fire_times(template).items()}
    for key, fires in job_fire_times(template).items():
        assert {day for day, _ in fires} <= WEEKDAYS, f"{key} fires on a weekend"
    listing, news, embed = (
        times["CrawlFunction", "listing"],
        times["CrawlFunction", "news"],
        times["CrawlFunction", "embed"],
    )
    quotes, prices = times["CrawlFunction", "quotes"], times["CrawlFunction", "prices"]
    predict, evaluate = times["PredictFunction", "run"], times["EvaluateFunction", "run"]
    summary = times["NotifyFunction", "daily_summary"]

    assert all("09:00" <= t < "15:30" for t in quotes), "quotes only during the regular session"
    assert min(prices) > "15:30", "daily prices are final only after the 15:30 close"
    assert max(predict) < "09:00", "predictions are made before the open"
    assert max(listing) < min(predict), "the listing is fresh before predicting"
    assert any(t < min(predict) for t in news) and any(t < min(predict) for t in embed), "morning news is in"
    assert all(f"{t[:3]}{int(t[3:]) - 10:02d}" in news for t in embed), "each embed run follows a news run"
    assert min(evaluate) > max(prices), "evaluation needs the day's closing prices"
    assert min(summary) > max(evaluate), "the daily summary reports the evaluation"


# ---------------------------------------------------------------------------- 4. structure


def test_parameters_and_conditions(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["Stage"]["AllowedValues"] == ["dev", "staging", "prod"]
    assert parameters["Stage"]["Default"] == "dev"
    for name in ("RedisUrl", "MilvusUri", "FrontendBaseUrl"):
        assert parameters[name]["Type"] == "String"
    assert parameters["DatabaseProxyEndpoint"]["Default"] == ""
    assert parameters["AlarmEmail"]["Default"] == ""
    for name in ("CorsOrigins", "SubnetIds", "SecurityGroupIds"):
        assert parameters[name]["Type"] == "CommaDelimitedList"
    for name in ("SubnetIds", "SecurityGroupIds"):
        assert parameters[name]["Default"] == ""
    assert template["Resources"]["AlarmEmailSubscription"]["Condition"] in template["Conditions"]
    vpc = template["Globals"]["Function"]["VpcConfig"]["Fn::If"]
    assert vpc[0] in template["Conditions"] and vpc[2] == {"Ref": "AWS::NoValue"}


def test_global_function_settings(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Architectures"] == ["x86_64"]
    assert function_globals["Tracing"] == "Active"
    variables = function_globals["Environment"]["Variables"]
    assert variables["ENVIRONMENT"] == "production"
    assert ref(variables["STAGE"]) == "Stage"
    assert ref(variables["REDIS_URL"]) == "RedisUrl"
    assert ref(variables["MILVUS_URI"]) == "MilvusUri"
    assert ref(variables["DATABASE_HOST"]) == "DatabaseProxyEndpoint"
    assert variables["SECRETS_SSM_PATH"] == {"Fn::Sub": "/stockinsight/${Stage}/"}
    assert ref(variables["PREDICT_QUEUE_URL"]) == "PredictQueue"
    assert ref(variables["NOTIFY_QUEUE_URL"]) == "NotifyQueue"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "StockInsight"
    assert "POWERTOOLS_SERVICE_NAME" in variables
    assert variables["LOG_LEVEL"] == "INFO"
    assert variables["MARKET_TIMEZONE"] == "Asia/Seoul"


def test_five_image_functions(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS)
    for function_id, name in FUNCTIONS.items():
        properties, metadata = functions[function_id]["Properties"], functions[function_id]["Metadata"]
        assert properties["PackageType"] == "Image", function_id
        assert properties["ImageConfig"] == {"Command": ["handler.lambda_handler"]}, function_id
        assert (properties["MemorySize"], properties["Timeout"]) == MEMORY_AND_TIMEOUT[function_id]
        assert metadata["Dockerfile"] == f"functions/{name}/Dockerfile", function_id
        assert metadata["DockerContext"] == "."
        assert metadata["DockerTag"] == "python3.12-v1"
        assert (REPO_ROOT / metadata["DockerContext"] / metadata["Dockerfile"]).is_file(), function_id
        assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == name


def test_function_policies(template: dict[str, Any]) -> None:
    policy = template["Resources"]["SecretsReadPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    ssm = next(s for s in statements if "ssm:GetParametersByPath" in s["Action"])
    resources = [r["Fn::Sub"] for r in ssm["Resource"]]
    assert any(r.endswith(":parameter/stockinsight/${Stage}") for r in resources), resources
    assert any(r.endswith(":parameter/stockinsight/${Stage}/*") for r in resources), resources
    assert any(s["Action"] == "kms:Decrypt" for s in statements)

    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        policies = function["Properties"]["Policies"]
        assert {"Ref": "SecretsReadPolicy"} in policies, function_id
        queues = {
            getatt(p["SQSSendMessagePolicy"]["QueueName"])
            for p in policies
            if isinstance(p, dict) and "SQSSendMessagePolicy" in p
        }
        assert queues == {(queue, "QueueName") for queue in SENDS_TO[function_id]}, function_id


def test_sqs_events_report_partial_failures_and_cap_concurrency(template: dict[str, Any]) -> None:
    found = {
        (function_id, event_name): properties for function_id, event_name, properties in events_of(template, "SQS")
    }
    assert set(found) == {("PredictFunction", "PredictQueueMessages"), ("NotifyFunction", "NotifyQueueMessages")}
    for (function_id, event_name), properties in found.items():
        where = f"{function_id}.{event_name}"
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"], where
        assert isinstance(properties["ScalingConfig"]["MaximumConcurrency"], int), where
        assert properties["BatchSize"] == 10, where
        queue = getatt(properties["Queue"])
        assert queue is not None and queue[1] == "Arn", where
        assert template["Resources"][queue[0]]["Type"] == "AWS::SQS::Queue", where
    predict = found["PredictFunction", "PredictQueueMessages"]
    assert predict["ScalingConfig"]["MaximumConcurrency"] == 5
    assert predict["MaximumBatchingWindowInSeconds"] == 5
    assert found["NotifyFunction", "NotifyQueueMessages"]["ScalingConfig"]["MaximumConcurrency"] == 2


def test_queues_have_dead_letter_queues(template: dict[str, Any]) -> None:
    queues = resources_of_type(template, "AWS::SQS::Queue")
    assert set(queues) == {"PredictQueue", "PredictDeadLetterQueue", "NotifyQueue", "NotifyDeadLetterQueue"}
    consumers: dict[str, tuple[str, dict[str, Any]]] = {}
    for function_id, _, event_properties in events_of(template, "SQS"):
        source = getatt(event_properties["Queue"])
        assert source is not None, function_id
        consumers[source[0]] = (function_id, event_properties)
    dead_letter_queues = {name for name in queues if "DeadLetter" in name}
    for name, queue in queues.items():
        properties = queue["Properties"]
        assert properties["SqsManagedSseEnabled"] is True, name
        if name in dead_letter_queues:
            assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600, name
            continue
        redrive = properties["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == 5, name
        assert getatt(redrive["deadLetterTargetArn"]) == (name.replace("Queue", "DeadLetterQueue"), "Arn"), name
        function_id, event = consumers[name]
        timeout = template["Resources"][function_id]["Properties"]["Timeout"]
        minimum = min(6 * timeout + event.get("MaximumBatchingWindowInSeconds", 0), 43200)
        assert minimum <= properties["VisibilityTimeout"] <= 43200, name


def test_http_api(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    properties = api["Properties"]
    assert properties["StageName"] == "$default"
    cors = properties["CorsConfiguration"]
    assert ref(cors["AllowOrigins"]) == "CorsOrigins"
    assert {"Authorization", "Content-Type"} <= set(cors["AllowHeaders"])
    assert {"GET", "POST", "OPTIONS"} <= set(cors["AllowMethods"])
    assert cors["AllowCredentials"] is True
    assert isinstance(cors["MaxAge"], int)
    routes = {(p["Path"], p["Method"]) for _, _, p in events_of(template, "HttpApi") if ref(p["ApiId"]) == "HttpApi"}
    assert routes == {("/{proxy+}", "ANY"), ("/", "ANY")}
    assert {function_id for function_id, _, _ in events_of(template, "HttpApi")} == {"ApiFunction"}


def test_alarms_cover_dead_letter_queues_and_function_errors(template: dict[str, Any]) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    watched: set[tuple[str, str, str]] = set()
    for alarm in alarms:
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        for dimension in properties["Dimensions"]:
            target = getatt(dimension["Value"]) or (ref(dimension["Value"]), "")
            watched.add((properties["MetricName"], dimension["Name"], str(target[0])))
        if properties["MetricName"] in {"ApproximateNumberOfMessagesVisible", "Errors"}:
            assert properties["Threshold"] == 0 and properties["ComparisonOperator"] == "GreaterThanThreshold"
    for queue in ("PredictDeadLetterQueue", "NotifyDeadLetterQueue"):
        assert ("ApproximateNumberOfMessagesVisible", "QueueName", queue) in watched, queue
    for function_id in FUNCTIONS:
        assert ("Errors", "FunctionName", function_id) in watched, function_id
    assert template["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert (
        subscription["Properties"]["Protocol"] == "email"
        and ref(subscription["Properties"]["Endpoint"]) == "AlarmEmail"
    )


def test_log_groups_keep_30_days(template: dict[str, Any]) -> None:
    log_groups = resources_of_type(template, "AWS::Logs::LogGroup")
    assert all(group["Properties"]["RetentionInDays"] == 30 for group in log_groups.values())
    for function_id in FUNCTIONS:
        properties = template["Resources"][function_id]["Properties"]
        log_group = ref(properties["LoggingConfig"]["LogGroup"])
        assert log_group in log_groups, function_id
        # Named like Lambda's default group for the function, so it is where people look.
        assert log_groups[log_group]["Properties"]["LogGroupName"] == {
            "Fn::Sub": properties["FunctionName"]["Fn::Sub"].replace(
                "${AWS::StackName}", "/aws/lambda/${AWS::StackName}"
            )
        }


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com"}
    assert ref(outputs["PredictQueueUrl"]["Value"]) == "PredictQueue"
    assert ref(outputs["NotifyQueueUrl"]["Value"]) == "NotifyQueue"
    for function_id in FUNCTIONS:
        assert ref(outputs[f"{function_id}Name"]["Value"]) == function_id


def test_no_secret_values_in_template(template: dict[str, Any]) -> None:
    """Secrets come from SSM at run time: no secret name is given a value, no parameter carries one."""
    for path, node in walk(template):
        if isinstance(node, dict):
            named = sorted(SECRET_NAMES & {str(key).upper() for key in node})
            assert not named, f"{'/'.join(path)} sets {named}: secrets belong in SSM under SECRETS_SSM_PATH"
    normalised = {name.replace("_", "").lower() for name in SECRET_NAMES}
    for name, parameter in template["Parameters"].items():
        assert name.lower() not in normalised, f"parameter {name} would put a secret in the stack"
        if any(word in name.lower() for word in ("secret", "password", "token", "apikey")):
            assert parameter.get("NoEcho") is True, name
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert not re.search(r"sk-[A-Za-z0-9_-]{20,}|\b[0-9]{8,10}:[A-Za-z0-9_-]{35}\b", text), "a key-shaped literal"


# ---------------------------------------------------------------------------- env.example


ENV_EXAMPLE = REPO_ROOT / "infrastructure" / "env.example"
# DESIGN.md section 8: the environment every function may read.
DESIGN_VARIABLES = [
    "DATABASE_URL",
    "REDIS_URL",
    "MILVUS_URI",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "KRX_OPENAPI_URL",
    "KRX_AUTH_KEY",
    "KRX_DATA_URL",
    "KRX_ID",
    "KRX_PW",
    "KIS_BASE_URL",
    "KIS_APP_KEY",
    "KIS_APP_SECRET",
    "NAVER_BASE_URL",
    "NAVER_CLIENT_ID",
    "NAVER_CLIENT_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BASE_URL",
    "JWT_SECRET",
    "CORS_ORIGINS",
    "PREDICT_QUEUE_URL",
    "NOTIFY_QUEUE_URL",
    "AWS_ENDPOINT_URL",
]
PLACEHOLDERS = {"", "dev-secret-change-me"}


def env_example_entries() -> dict[str, tuple[str, bool]]:
    """NAME -> (value, commented out) for every NAME=value line, active or commented."""
    entries: dict[str, tuple[str, bool]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match and not (match[1] and match[2] in entries):
            entries[match[2]] = (match[3], bool(match[1]))
    return entries


def test_env_example_names_every_variable(template: dict[str, Any]) -> None:
    entries = env_example_entries()
    template_variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function_id in FUNCTIONS:
        template_variables |= set(template["Resources"][function_id]["Properties"]["Environment"]["Variables"])
    settings_variables = {name.upper() for name in Settings.model_fields}
    required = set(DESIGN_VARIABLES) | SECRET_NAMES | (template_variables & settings_variables)
    assert sorted(required - set(entries)) == []
    assert sorted(name for name in entries if name not in settings_variables | template_variables) == [
        "POWERTOOLS_TRACE_DISABLED"
    ], "a name nothing reads"


def test_env_example_points_at_the_compose_stack_without_secrets() -> None:
    entries = env_example_entries()
    assert entries["DATABASE_URL"] == ("postgresql+pg8000://postgres:postgres@127.0.0.1:5432/stockinsight", False)
    assert entries["REDIS_URL"] == ("redis://127.0.0.1:6379/0", False)
    assert entries["MILVUS_URI"] == ("http://127.0.0.1:19530", False)
    assert entries["ENVIRONMENT"] == ("local", False)
    for name in SECRET_NAMES - {"DATABASE_URL"}:
        assert entries[name][0] in PLACEHOLDERS, f"{name} must be an obvious placeholder in an example file"


def test_env_example_loads_into_settings() -> None:
    """shared/config.py accepts every value (e.g. list settings in the form it decodes)."""
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert settings.cors_origins == ["http://localhost:3000"]
    assert settings.market_timezone == "Asia/Seoul"


def test_cors_origins_reach_the_api_in_a_form_settings_read(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The api's CORS_ORIGINS, as CloudFormation renders it for two origins, parses to that list."""
    origins = ["https://app.example.com", "http://localhost:3000"]
    sub = template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]["CORS_ORIGINS"]["Fn::Sub"]
    text, variables = sub
    joined = variables["Origins"]["Fn::Join"]
    assert joined[1] == {"Ref": "CorsOrigins"}
    rendered = text.replace("${Origins}", joined[0].join(origins))
    monkeypatch.setenv("CORS_ORIGINS", rendered)
    assert Settings(_env_file=None).cors_origins == origins  # type: ignore[call-arg]

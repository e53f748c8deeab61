"""template.yaml as typed specs: the functions, their triggers and the queues between them.

The SAM template is the single description of what runs where, so the local runner reads
it rather than keeping a second list: a function's code directory comes from its image's
Dockerfile path, its handler from `ImageConfig.Command`, its timeout and environment from
the function and `Globals`, its schedules and SQS event sources from `Events`.
CloudFormation's short tags (`!Ref`, `!GetAtt`, ...) load as `Intrinsic` values: locally
nothing resolves them, and a setting that needs one is simply left to the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Short tags CloudFormation accepts (the `Fn::` prefix is implied except for Ref and Condition).
SHORT_TAGS = (
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Cidr",
    "GetAZs",
    "Transform",
    "Length",
    "ToJsonString",
)
SAM_DEFAULT_TIMEOUT_SECONDS = 3
SAM_DEFAULT_MEMORY_MB = 128
SQS_DEFAULT_BATCH_SIZE = 10
DEFAULT_HANDLER = "handler.lambda_handler"


class TemplateError(ValueError):
    """template.yaml lacks something the runner needs; the message names the resource."""


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """An unresolved CloudFormation function such as `!Ref PredictQueue` (name "Ref")."""

    name: str
    value: Any

    @property
    def target(self) -> str | None:
        """The logical id a `!Ref` / `!GetAtt` points at."""
        if self.name == "Ref" and isinstance(self.value, str):
            return self.value
        if self.name == "GetAtt" and isinstance(self.value, list) and self.value:
            return str(self.value[0])
        return None


class CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that also reads CloudFormation's short-form intrinsic tags."""


def _intrinsic_constructor(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Intrinsic:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:  # pragma: no cover - yaml has no other node kinds
            raise TemplateError(f"unsupported node for !{name}")
        return Intrinsic(name, value)

    return construct


for _tag in SHORT_TAGS:
    CloudFormationLoader.add_constructor(f"!{_tag}", _intrinsic_constructor(_tag))


def _long_form_intrinsics(value: Any) -> Any:
    """`{"Fn::GetAtt": [...]}` and `{"Ref": ...}` become the same `Intrinsic` as the short tags."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), *_ = value.items()
            if key == "Ref":
                return Intrinsic("Ref", inner)
            if isinstance(key, str) and key.startswith("Fn::"):
                name = key.removeprefix("Fn::")
                converted = _long_form_intrinsics(inner)
                if name == "GetAtt" and isinstance(converted, str):
                    converted = converted.split(".", 1)
                return Intrinsic(name, converted)
        return {key: _long_form_intrinsics(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_long_form_intrinsics(item) for item in value]
    return value


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    dead_letter_queue: str  # logical id
    max_receive_count: int


@dataclass(frozen=True, slots=True)
class QueueSpec:
    logical_id: str
    queue_name: str
    # CreateQueue attributes known from the template (string values, as SQS takes them).
    attributes: Mapping[str, str]
    redrive: RedrivePolicy | None = None


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    name: str  # the event's key under the function's Events
    function: str  # logical id
    expression: str
    timezone: str | None
    input: Mapping[str, Any] | None
    description: str = ""
    enabled: bool = True

    @property
    def job(self) -> str | None:
        value = (self.input or {}).get("job")
        return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class SqsEventSource:
    name: str
    function: str  # logical id
    queue: str  # logical id
    batch_size: int = SQS_DEFAULT_BATCH_SIZE
    maximum_batching_window_seconds: int = 0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class HttpRoute:
    name: str
    function: str  # logical id
    path: str
    method: str
    api: str | None  # logical id of the HttpApi, None for the implicit one


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    name: str  # short name: the directory holding the handler (api, crawl, ...)
    code_dir: Path
    handler: str  # "module.attribute", as ImageConfig.Command / Handler spell it
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str] = field(default_factory=dict)
    # Variables whose value is a CloudFormation function: only a deployment resolves them.
    unresolved_environment: frozenset[str] = frozenset()
    # Variables set to `!Ref <Resource>` (PREDICT_QUEUE_URL: PredictQueue): the runner fills
    # them in with the local resource (a queue URL on moto).
    environment_refs: Mapping[str, str] = field(default_factory=dict)
    schedules: tuple[ScheduleSpec, ...] = ()
    sqs_sources: tuple[SqsEventSource, ...] = ()
    http_routes: tuple[HttpRoute, ...] = ()

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True, slots=True)
class Template:
    path: Path
    functions: Mapping[str, FunctionSpec]  # by logical id, in template order
    queues: Mapping[str, QueueSpec]  # by logical id

    def function(self, name: str) -> FunctionSpec:
        """A function by short name (`crawl`) or logical id (`CrawlFunction`), case-insensitively."""
        wanted = name.strip().lower()
        for spec in self.functions.values():
            if wanted in (spec.name.lower(), spec.logical_id.lower()):
                return spec
        choices = ", ".join(f"{spec.name} ({spec.logical_id})" for spec in self.functions.values())
        raise TemplateError(f"no function {name!r} in {self.path.name}; expected one of: {choices}")

    @property
    def schedules(self) -> list[ScheduleSpec]:
        return [schedule for spec in self.functions.values() for schedule in spec.schedules]

    @property
    def sqs_sources(self) -> list[SqsEventSource]:
        return [source for spec in self.functions.values() for source in spec.sqs_sources]

    def consumers_of(self, queue: str) -> list[SqsEventSource]:
        return [source for source in self.sqs_sources if source.queue == queue]

    def queue_url_variables(self) -> dict[str, str]:
        """Environment variable → queue logical id, for every `VAR: !Ref <Queue>` in the template."""
        return {
            variable: target
            for spec in self.functions.values()
            for variable, target in spec.environment_refs.items()
            if target in self.queues
        }

    def http_function(self) -> FunctionSpec:
        """The function behind the HTTP API (the api function)."""
        for spec in self.functions.values():
            if spec.http_routes:
                return spec
        raise TemplateError(f"no function in {self.path.name} has an HttpApi/Api event")

    def queue(self, logical_id: str) -> QueueSpec:
        try:
            return self.queues[logical_id]
        except KeyError:
            raise TemplateError(f"no queue {logical_id!r} in {self.path.name}") from None


# --------------------------------------------------------------------------- parsing


def _literal(value: Any) -> str | None:
    """A template value as a string, or None when only a deployment could resolve it."""
    if isinstance(value, Intrinsic) or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: Any, default: int, *, where: str) -> int:
    if value is None:
        return default
    if isinstance(value, Intrinsic):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: expected a number, got {value!r}") from None


def _enabled(properties: Mapping[str, Any]) -> bool:
    if "Enabled" in properties and properties["Enabled"] is False:
        return False
    state = properties.get("State")
    return not (isinstance(state, str) and state.upper() == "DISABLED")


def _handler_from_dockerfile(dockerfile: Path) -> str | None:
    """The image's `CMD ["handler.lambda_handler"]`, when ImageConfig does not override it."""
    if not dockerfile.is_file():
        return None
    for line in reversed(dockerfile.read_text(encoding="utf-8").splitlines()):
        stripped = line.strip()
        if stripped.upper().startswith("CMD"):
            argument = stripped[3:].strip()
            try:
                command = json.loads(argument)
            except json.JSONDecodeError:
                return argument.split()[0] if argument else None
            return str(command[0]) if isinstance(command, list) and command else None
    return None


def _code_location(
    logical_id: str, properties: Mapping[str, Any], metadata: Mapping[str, Any], base: Path
) -> tuple[Path, str]:
    """Where a function's handler lives: the Dockerfile's folder (images) or CodeUri (zip)."""
    if properties.get("PackageType", "Zip") == "Image":
        dockerfile = metadata.get("Dockerfile")
        if not isinstance(dockerfile, str):
            raise TemplateError(f"{logical_id}: an Image function needs Metadata.Dockerfile")
        context = metadata.get("DockerContext", ".")
        dockerfile_path = (base / str(context) / dockerfile).resolve()
        command = (properties.get("ImageConfig") or {}).get("Command")
        if isinstance(command, list) and command and isinstance(command[0], str):
            handler = command[0]
        else:
            handler = _handler_from_dockerfile(dockerfile_path) or DEFAULT_HANDLER
        return dockerfile_path.parent, handler
    code_uri = properties.get("CodeUri")
    zip_handler = properties.get("Handler")
    if not isinstance(code_uri, str) or not isinstance(zip_handler, str):
        raise TemplateError(f"{logical_id}: a Zip function needs CodeUri and Handler as plain strings")
    return (base / code_uri).resolve(), zip_handler


def _schedule(event_name: str, function: str, event_type: str, properties: Mapping[str, Any]) -> ScheduleSpec:
    expression_key = "ScheduleExpression" if event_type == "ScheduleV2" else "Schedule"
    expression = _literal(properties.get(expression_key))
    if expression is None:
        raise TemplateError(f"{function}.{event_name}: {expression_key} must be a plain string")
    raw_input = properties.get("Input")
    parsed_input: Mapping[str, Any] | None = None
    if isinstance(raw_input, str):
        try:
            decoded = json.loads(raw_input)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{function}.{event_name}: Input is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise TemplateError(f"{function}.{event_name}: Input must be a JSON object")
        parsed_input = decoded
    elif raw_input is not None and not isinstance(raw_input, Intrinsic):
        raise TemplateError(f"{function}.{event_name}: Input must be a JSON string")
    return ScheduleSpec(
        name=event_name,
        function=function,
        expression=expression,
        timezone=_literal(properties.get("ScheduleExpressionTimezone")),
        input=parsed_input,
        description=_literal(properties.get("Description")) or "",
        enabled=_enabled(properties),
    )


def _sqs_source(event_name: str, function: str, properties: Mapping[str, Any]) -> SqsEventSource:
    queue = properties.get("Queue")
    target = queue.target if isinstance(queue, Intrinsic) else None
    if target is None:
        raise TemplateError(f"{function}.{event_name}: Queue must be !GetAtt <Queue>.Arn of a queue in the template")
    where = f"{function}.{event_name}"
    scaling = properties.get("ScalingConfig") or {}
    concurrency = scaling.get("MaximumConcurrency") if isinstance(scaling, dict) else None
    response_types = properties.get("FunctionResponseTypes") or []
    return SqsEventSource(
        name=event_name,
        function=function,
        queue=target,
        batch_size=_int(properties.get("BatchSize"), SQS_DEFAULT_BATCH_SIZE, where=where),
        maximum_batching_window_seconds=_int(properties.get("MaximumBatchingWindowInSeconds"), 0, where=where),
        report_batch_item_failures="ReportBatchItemFailures" in response_types,
        maximum_concurrency=None if concurrency is None else _int(concurrency, 0, where=where),
        enabled=_enabled(properties),
    )


@dataclass(slots=True)
class _Environment:
    literal: dict[str, str] = field(default_factory=dict)
    unresolved: set[str] = field(default_factory=set)
    refs: dict[str, str] = field(default_factory=dict)


def _environment(*variable_maps: Any) -> _Environment:
    """Globals' variables overlaid by the function's own, as SAM merges them."""
    merged = _Environment()
    for variables in variable_maps:
        if not isinstance(variables, dict):
            continue
        for key, value in variables.items():
            merged.literal.pop(key, None)
            merged.unresolved.discard(key)
            merged.refs.pop(key, None)
            text = _literal(value)
            if text is not None:
                merged.literal[key] = text
                continue
            merged.unresolved.add(key)
            if isinstance(value, Intrinsic) and value.name == "Ref" and value.target is not None:
                merged.refs[key] = value.target
    return merged


def _variables(section: Any) -> Any:
    environment = section.get("Environment") if isinstance(section, dict) else None
    return environment.get("Variables") if isinstance(environment, dict) else None


def _function(
    logical_id: str, resource: Mapping[str, Any], globals_function: Mapping[str, Any], base: Path
) -> FunctionSpec:
    properties: Mapping[str, Any] = resource.get("Properties") or {}
    metadata: Mapping[str, Any] = resource.get("Metadata") or {}
    code_dir, handler = _code_location(logical_id, properties, metadata, base)
    environment = _environment(_variables(globals_function), _variables(properties))
    schedules: list[ScheduleSpec] = []
    sqs_sources: list[SqsEventSource] = []
    http_routes: list[HttpRoute] = []
    for event_name, event in (properties.get("Events") or {}).items():
        event_type = event.get("Type")
        event_properties: Mapping[str, Any] = event.get("Properties") or {}
        if event_type in ("Schedule", "ScheduleV2"):
            schedules.append(_schedule(event_name, logical_id, event_type, event_properties))
        elif event_type == "SQS":
            sqs_sources.append(_sqs_source(event_name, logical_id, event_properties))
        elif event_type in ("HttpApi", "Api"):
            api = event_properties.get("ApiId") or event_properties.get("RestApiId")
            http_routes.append(
                HttpRoute(
                    name=event_name,
                    function=logical_id,
                    path=_literal(event_properties.get("Path")) or "$default",
                    method=(_literal(event_properties.get("Method")) or "ANY").upper(),
                    api=api.target if isinstance(api, Intrinsic) else None,
                )
            )
    where = logical_id
    return FunctionSpec(
        logical_id=logical_id,
        name=code_dir.name,
        code_dir=code_dir,
        handler=handler,
        timeout_seconds=_int(
            properties.get("Timeout", globals_function.get("Timeout")), SAM_DEFAULT_TIMEOUT_SECONDS, where=where
        ),
        memory_mb=_int(
            properties.get("MemorySize", globals_function.get("MemorySize")), SAM_DEFAULT_MEMORY_MB, where=where
        ),
        environment=environment.literal,
        unresolved_environment=frozenset(environment.unresolved),
        environment_refs=environment.refs,
        schedules=tuple(schedules),
        sqs_sources=tuple(sqs_sources),
        http_routes=tuple(http_routes),
    )


def _queue(logical_id: str, resource: Mapping[str, Any]) -> QueueSpec:
    properties: Mapping[str, Any] = resource.get("Properties") or {}
    attributes: dict[str, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
        "FifoQueue",
        "ContentBasedDeduplication",
        "SqsManagedSseEnabled",
    ):
        text = _literal(properties.get(key))
        if text is not None:
            attributes[key] = text
    queue_name = _literal(properties.get("QueueName")) or logical_id
    if attributes.get("FifoQueue") == "true" and not queue_name.endswith(".fifo"):
        queue_name += ".fifo"
    redrive: RedrivePolicy | None = None
    raw_redrive = properties.get("RedrivePolicy")
    if isinstance(raw_redrive, dict):
        target = raw_redrive.get("deadLetterTargetArn")
        dead_letter = target.target if isinstance(target, Intrinsic) else None
        if dead_letter is None:
            raise TemplateError(f"{logical_id}: RedrivePolicy.deadLetterTargetArn must be !GetAtt <Queue>.Arn")
        redrive = RedrivePolicy(
            dead_letter_queue=dead_letter,
            max_receive_count=_int(raw_redrive.get("maxReceiveCount"), 10, where=f"{logical_id}.RedrivePolicy"),
        )
    return QueueSpec(logical_id=logical_id, queue_name=queue_name, attributes=attributes, redrive=redrive)


def parse_template(document: Mapping[str, Any], *, path: Path) -> Template:
    normalized = _long_form_intrinsics(dict(document))
    resources = normalized.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError(f"{path.name} has no Resources")
    globals_function = (normalized.get("Globals") or {}).get("Function") or {}
    base = path.parent
    functions: dict[str, FunctionSpec] = {}
    queues: dict[str, QueueSpec] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        resource_type = resource.get("Type")
        if resource_type == "AWS::Serverless::Function":
            functions[logical_id] = _function(logical_id, resource, globals_function, base)
        elif resource_type == "AWS::SQS::Queue":
            queues[logical_id] = _queue(logical_id, resource)
    for queue in queues.values():
        if queue.redrive is not None and queue.redrive.dead_letter_queue not in queues:
            raise TemplateError(
                f"{queue.logical_id}: dead-letter queue {queue.redrive.dead_letter_queue!r} is not a queue"
            )
    for source in (source for spec in functions.values() for source in spec.sqs_sources):
        if source.queue not in queues:
            raise TemplateError(f"{source.function}.{source.name}: queue {source.queue!r} is not defined")
    names = [spec.name for spec in functions.values()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise TemplateError(f"functions share a code directory name: {duplicates}")
    return Template(path=path, functions=functions, queues=queues)


def load_template(path: str | Path) -> Template:
    template_path = Path(path).resolve()
    try:
        text = template_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"template not found: {template_path}") from None
    try:
        document = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{template_path.name} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise TemplateError(f"{template_path.name} is not a mapping")
    return parse_template(document, path=template_path)


def find_template(start: Path | None = None) -> Path:
    """template.yaml in the current directory or a parent, else the one beside this package."""
    here = (start or Path.cwd()).resolve()
    for directory in (*(here, *here.parents), Path(__file__).resolve().parent.parent):
        candidate = directory / "template.yaml"
        if candidate.is_file():
            return candidate
    raise TemplateError(f"no template.yaml in {here} or its parents; pass --template")

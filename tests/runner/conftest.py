"""Fixtures for the local runner's tests: the fixture template, moto's server, fresh queues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.invoke import forget_handlers
from runner.sqs import LocalAws, QueueRef, create_queues, sqs_client
from runner.template import Template, load_template

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fixture_template_path() -> Path:
    return FIXTURES / "template.yaml"


@pytest.fixture
def fixture_template(fixture_template_path: Path) -> Template:
    return load_template(fixture_template_path)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(autouse=True)
def _fresh_handler_modules() -> Iterator[None]:
    """Each test imports the fixture handlers anew (their module state starts empty)."""
    forget_handlers()
    yield
    forget_handlers()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def sqs(local_aws: LocalAws) -> Any:
    return sqs_client(local_aws.endpoint_url)


@pytest.fixture
def work_queues(sqs: Any, fixture_template: Template) -> Iterator[dict[str, QueueRef]]:
    """The fixture template's queues, created empty for the test and deleted after it."""
    queues = create_queues(sqs, fixture_template)
    for queue in queues.values():
        sqs.purge_queue(QueueUrl=queue.url)
    yield queues
    for queue in queues.values():
        sqs.delete_queue(QueueUrl=queue.url)

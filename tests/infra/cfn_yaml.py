"""Load a CloudFormation/SAM YAML template into plain JSON-shaped data.

CloudFormation's short-form tags become their long form, as CloudFormation itself reads
them: `!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]},
`!Condition C` -> {"Condition": "C"}, any other `!Name v` -> {"Fn::Name": v}
(!Sub, !If, !Equals, !Not, !And, !Or, !Join, !Select, !Split, !FindInMap, !Base64,
!Cidr, !GetAZs, !ImportValue, !Transform, ...).

YAML 1.1 extras that CloudFormation does not have are kept out: timestamps stay strings
(so an unquoted 2012-10-17 is not turned into a date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's intrinsic-function tags."""


def _construct_node(loader: CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _construct_intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value = _construct_node(loader, node)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


def _construct_timestamp_as_string(loader: CfnLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


CfnLoader.add_multi_constructor("!", _construct_intrinsic)
CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_string)


def loads(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise ValueError("a template must be a mapping at the top level")
    return data


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return loads(path.read_text(encoding="utf-8"))

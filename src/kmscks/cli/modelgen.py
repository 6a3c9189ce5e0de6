"""Build-time generator of `operations.json`: the KMS operations cks covers, as the CLI needs them.

Layer: cli (build time only). Reads the botocore KMS model and writes a compact description of
the custom key store operations and those on the keys in them, so that `cks kms` never imports
botocore at run time (importing it costs ~0.3 s; ../shared/contract/aws-cli-behaviour.md §11).
A test regenerates the file from the installed botocore and asserts it is unchanged, so it
cannot drift from the model.

Must not import server code (kmscks.api, .service, .store, .connectors). Run it as
`python -m kmscks.cli.modelgen` to rewrite the file.
"""

from __future__ import annotations

import io
import json
import re
import sys
import xml.dom.minidom
import xml.parsers.expat
from pathlib import Path
from typing import Any

OPERATIONS = (
    "DescribeCustomKeyStores",
    "CreateCustomKeyStore",
    "UpdateCustomKeyStore",
    "ConnectCustomKeyStore",
    "DisconnectCustomKeyStore",
    "DeleteCustomKeyStore",
    # KMS keys in custom key stores (../shared/contract/kms-keys-in-custom-key-stores.md §1):
    # key lifecycle,
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "UpdateKeyDescription",
    # cryptography,
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    # operations the service rejects for custom-store keys (the CLI still sends them),
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "ReplicateKey",
    "UpdatePrimaryRegion",
    # aliases, policies, tags and grants.
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "ListKeyPolicies",
    "ListResourceTags",
    "TagResource",
    "UntagResource",
    "CreateGrant",
    "ListGrants",
    "ListRetirableGrants",
    "RetireGrant",
    "RevokeGrant",
)
OUTPUT_PATH = Path(__file__).with_name("operations.json")

# awscli.customizations.utils: the yaml-input skeleton comments use the first sentence of the
# member's documentation, cut at the first '.' or ':'.
_SENTENCE_DELIMITERS = re.compile(r"[.:]+")
_TAG = re.compile(r"<[^>]+>")


def cli_name(name: str) -> str:
    """botocore.xform_name(name, '-'): CamelCase wire names to the CLI's dashed option names."""
    import botocore

    return str(botocore.xform_name(name, "-"))


def _strip_xml(documentation: str) -> str:
    try:
        dom = xml.dom.minidom.parseString(f"<doc>{documentation}</doc>")
    except xml.parsers.expat.ExpatError:
        return documentation
    parts: list[str] = []

    def walk(node: Any) -> None:
        for child in node.childNodes:
            if child.nodeType == node.TEXT_NODE:
                parts.append(child.data)
            else:
                walk(child)

    walk(dom)
    return "".join(parts)


def doc_overview(documentation: str) -> str:
    """awscli's get_shape_doc_overview: the first sentence, without markup or line breaks."""
    content = _SENTENCE_DELIMITERS.split(_strip_xml(documentation), 1)[0]
    if content:
        content += "."
    return content.replace("\n", " ").replace("\u2028", " ")


# An operation without an output shape (EnableKey, TagResource, ...): botocore parses its
# response as {}, exactly like an empty structure.
_NO_OUTPUT: dict[str, Any] = {"type": "structure", "members": [], "required": []}


def _describe_shape(shape: Any) -> dict[str, Any]:
    if shape is None:
        return dict(_NO_OUTPUT)
    kind = shape.type_name
    described: dict[str, Any] = {"type": kind}
    if kind == "structure":
        described["members"] = [
            [name, _describe_member(name, member, shape)] for name, member in shape.members.items()
        ]
        described["required"] = list(shape.required_members)
    elif kind == "list":
        described["member"] = _describe_shape(shape.member)
        # botocore range-checks a list's length (never a map's); the output skeleton names
        # list items after their shape.
        described["member_name"] = shape.member.name
        if "min" in shape.metadata:
            described["min"] = shape.metadata["min"]
    elif kind == "map":
        described["key"] = _describe_shape(shape.key)
        described["value"] = _describe_shape(shape.value)
    else:
        if "min" in shape.metadata:
            described["min"] = shape.metadata["min"]
        if getattr(shape, "enum", None):
            described["enum"] = list(shape.enum)
    return described


def _describe_member(name: str, member: Any, parent: Any) -> dict[str, Any]:
    described = _describe_shape(member)
    described["doc"] = doc_overview(member.documentation)
    return described


def _json_skeleton(shape: Any) -> Any:
    # botocore's ArgumentGenerator picks a *random* enum value; the first one keeps the
    # generated skeleton reproducible.
    kind = shape.type_name
    if kind == "structure":
        return {name: _json_skeleton(member) for name, member in shape.members.items()}
    if kind == "list":
        return [_json_skeleton(shape.member)]
    if kind == "map":
        return {"KeyName": _json_skeleton(shape.value)}
    if kind == "string":
        return shape.enum[0] if getattr(shape, "enum", None) else ""
    if kind in ("integer", "long"):
        return 0
    if kind == "boolean":
        return True
    if kind == "timestamp":
        # datetime(1970, 1, 1) through awscli's json_encoder (isoformat).
        return "1970-01-01T00:00:00"
    if kind == "blob":
        return None  # ArgumentGenerator has no case for blobs
    raise ValueError(f"no skeleton for {kind}")


class _Bytes:
    """awscli's placeholder for a blob in the yaml-input skeleton (an empty !!binary)."""

    @classmethod
    def represent(cls, dumper: Any, data: Any) -> Any:
        return dumper.represent_scalar("tag:yaml.org,2002:binary", "")


def _yaml_skeleton(shape: Any) -> str:
    """The `--generate-cli-skeleton yaml-input` text, made the way awscli's
    YAMLArgumentGenerator makes it (round-trip ruamel map with end-of-line comments)."""
    import datetime

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.representer.add_representer(_Bytes, _Bytes.represent)

    def build(current: Any) -> Any:
        kind = current.type_name
        if kind == "blob":
            return _Bytes()
        if kind == "timestamp":
            return datetime.datetime(1970, 1, 1, 0, 0, 0)
        if kind == "list":
            return [build(current.member)]
        if kind == "map":
            return {"KeyName": build(current.value)}
        if kind != "structure":
            return _json_skeleton(current)
        node = yaml.map()
        for name, member in current.members.items():
            node[name] = build(member)
            parts = []
            if name in current.required_members:
                parts.append("[REQUIRED]")
            parts.append(doc_overview(member.documentation))
            if getattr(member, "enum", None):
                parts.append(f"Valid values are: {', '.join(member.enum)}.")
            comment = " ".join(parts)
            if comment and not comment.isspace():
                node.yaml_add_eol_comment("# " + comment, name)
        return node

    stream = io.StringIO()
    yaml.dump(build(shape), stream)
    return stream.getvalue()


def _text(node: Any) -> str:
    parts: list[str] = []

    def walk(current: Any) -> None:
        for child in current.childNodes:
            if child.nodeType == child.TEXT_NODE:
                parts.append(child.data)
            elif child.nodeName != "ul":
                walk(child)

    walk(node)
    return " ".join("".join(parts).split())


def connection_error_explanations(documentation: str) -> dict[str, list[list[str]]]:
    """Each ConnectionErrorCode's meaning per store type, from the model's documentation of
    CustomKeyStoresListEntry.ConnectionErrorCode (the KMS API Reference text)."""
    root: Any = xml.dom.minidom.parseString(f"<doc>{documentation}</doc>").documentElement
    result: dict[str, list[list[str]]] = {}
    group = ""
    node: Any
    for node in root.childNodes:
        if node.nodeName == "p" and node.getElementsByTagName("b"):
            group = _text(node).rstrip(":")
        elif node.nodeName == "ul" and group:
            for item in node.childNodes:
                if item.nodeName != "li":
                    continue
                text = _text(item)
                code, _, meaning = text.partition(" — ")
                bullets = [
                    "- " + _text(sub)
                    for nested in item.getElementsByTagName("ul")
                    for sub in nested.childNodes
                    if sub.nodeName == "li"
                ]
                result.setdefault(code.strip(), []).append(
                    [group, "\n".join([meaning.strip(), *bullets])]
                )
    return result


def _general_remedy(documentation: str) -> str:
    root: Any = xml.dom.minidom.parseString(f"<doc>{documentation}</doc>").documentElement
    return _text(root.getElementsByTagName("p")[1])


def build_description() -> dict[str, Any]:
    import botocore.session

    session = botocore.session.get_session()
    model = session.get_service_model("kms")
    paginators = session.get_paginator_model("kms")
    operations: dict[str, Any] = {}
    for name in OPERATIONS:
        operation = model.operation_model(name)
        try:
            paginator: dict[str, Any] | None = dict(paginators.get_paginator(name))
        except ValueError:
            paginator = None
        input_shape = operation.input_shape
        operations[cli_name(name)] = {
            "name": name,
            "doc": doc_overview(operation.documentation),
            "input": _describe_shape(input_shape),
            "output": _describe_shape(operation.output_shape),
            "options": {cli_name(member): member for member in input_shape.members},
            "paginator": paginator,
            "skeleton_input": json.dumps(_json_skeleton(input_shape), indent=4) + "\n",
            "skeleton_yaml_input": _yaml_skeleton(input_shape),
        }
    metadata = model.metadata
    entry = model.shape_for("CustomKeyStoresListEntry")
    return {
        "service": {
            "target_prefix": metadata["targetPrefix"],
            "json_version": metadata["jsonVersion"],
            "signing_name": metadata.get("signingName", metadata["endpointPrefix"]),
            "endpoint_prefix": metadata["endpointPrefix"],
            "api_version": metadata["apiVersion"],
        },
        # awscli's `kms` command table, for its invalid-choice message.
        "service_commands": [cli_name(name) for name in model.operation_names],
        "connection_error_codes": list(model.shape_for("ConnectionErrorCodeType").enum),
        "connection_error_help": {
            "general": _general_remedy(entry.members["ConnectionErrorCode"].documentation),
            "codes": connection_error_explanations(
                entry.members["ConnectionErrorCode"].documentation
            ),
        },
        "operations": operations,
    }


def render() -> str:
    return json.dumps(build_description(), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    from kmscks.cli import helpgen

    OUTPUT_PATH.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT_PATH}\nwrote {helpgen.write()}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

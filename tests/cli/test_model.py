"""operations.json is derived from the installed botocore model and must not drift from it."""

from __future__ import annotations

import json

from kmscks.cli import modelgen, spec


def test_operations_json_matches_the_installed_botocore_model() -> None:
    assert modelgen.OUTPUT_PATH.read_text(encoding="utf-8") == modelgen.render(), (
        "src/kmscks/cli/operations.json is stale: run `python -m kmscks.cli.modelgen`"
    )


def test_every_operation_input_member_is_an_option() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms")
    for command in spec.operation_names():
        operation = spec.operation(command)
        members = list(model.operation_model(operation["name"]).input_shape.members)
        assert list(operation["options"].values()) == members
        assert json.loads(operation["skeleton_input"]).keys() == set(members)


def test_the_operations_and_the_paginators() -> None:
    assert spec.operation_names()[:6] == [
        "describe-custom-key-stores",
        "create-custom-key-store",
        "update-custom-key-store",
        "connect-custom-key-store",
        "disconnect-custom-key-store",
        "delete-custom-key-store",
    ]
    assert {"create-key", "encrypt", "decrypt", "list-aliases", "untag-resource"} <= set(
        spec.operation_names()
    )
    assert len(spec.operation_names()) == len(modelgen.OPERATIONS) == 47
    paginated = {name for name in spec.operation_names() if spec.operation(name)["paginator"]}
    assert paginated == {
        "describe-custom-key-stores",
        "list-keys",
        "list-aliases",
        "list-resource-tags",
        "list-key-policies",
        "list-key-rotations",
        "list-grants",
        "list-retirable-grants",
    }
    assert spec.operation("list-resource-tags")["paginator"]["result_key"] == "Tags"
    assert spec.operation("describe-custom-key-stores")["paginator"] == {
        "input_token": "Marker",
        "limit_key": "Limit",
        "more_results": "Truncated",
        "output_token": "NextMarker",
        "result_key": "CustomKeyStores",
    }
    assert len(spec.connection_error_codes()) == 18


def test_hot_path_modules_do_not_import_heavy_or_server_code() -> None:
    import subprocess
    import sys

    code = (
        "import sys, kmscks.cli.main, kmscks.cli.invocation, kmscks.cli.table, kmscks.cli.yamlout\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'jmespath', "
        "'ruamel', 'yaml') or m.startswith(('kmscks.api', 'kmscks.service', 'kmscks.store', "
        "'kmscks.connectors'))]\nprint(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

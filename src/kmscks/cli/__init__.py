"""The aws-compatible client: `cks kms <operation> ...`.

Layer: cli. An HTTP client of the KMS API, byte-for-byte compatible with `aws kms` (AWS CLI v2
2.33) for the six custom key store operations; ../shared/contract/aws-cli-behaviour.md is the
spec. Must not import server code (kmscks.api, kmscks.service, kmscks.store,
kmscks.connectors), and must not import botocore, boto3, jmespath or ruamel.yaml on the hot
path of a plain json describe: start-up time is a feature (docs/benchmarks.md).
"""

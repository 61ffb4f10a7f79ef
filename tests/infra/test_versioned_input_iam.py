"""An imported input bucket with versioning on is processed under the roles the template grants.

Once S3 returns a version, every call the job makes on the original names it (`VersionId`), and AWS then
authorizes it as a version action: s3:GetObjectVersion, s3:GetObjectVersionTagging,
s3:PutObjectVersionTagging, s3:DeleteObjectVersion. Without them every object is AccessDenied, retried,
then sent to the failure queue.

Three checks: the synthesized roles' statements (function and large-scene job) grant them; the whole job
runs end to end against the local S3 server with IAM enforced (moto's server, `reset-auth`), as a user
holding exactly the function role's S3 statements; and, since moto maps several version actions to their
plain ones, every S3 request that run made is evaluated against the statements with AWS's own action
names (`required_permissions`).
"""

from __future__ import annotations

import fnmatch
import json
from functools import partial
from typing import Any

import boto3
import pytest
import requests
from aws_cdk.assertions import Template

from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import PermanentError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from imagery_archive_cli.local.s3_server import reset
from tests.support.paths import SAMPLES
from tests.support.stack import IMPORTED_BUCKETS, logical_id

INPUT, OUTPUT = IMPORTED_BUCKETS["inputBucketName"], IMPORTED_BUCKETS["outputBucketName"]
VERSION_ACTIONS = ("s3:GetObjectVersion", "s3:GetObjectVersionTagging", "s3:PutObjectVersionTagging",
                   "s3:DeleteObjectVersion")  # fmt: skip
ROLES = ("Compression/Role", "LargeScenes/JobRole")


# --- the template's statements, resolved to ARNs --------------------------------------------------------


def _resolve(value: Any) -> str:
    """A statement's resource as AWS sees it (imported buckets are ARNs joined with the partition)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_resolve(part) for part in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    raise ValueError(f"not resolvable without a deployment: {value!r}")


def s3_statements(template: Template, role_path: str) -> list[dict[str, Any]]:
    """The role's S3 statements, their actions and resources as lists of strings."""
    role = logical_id(template, "AWS::IAM::Role", role_path)
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    resolved = []
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if not any(action.startswith("s3:") for action in actions):
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        resolved.append(
            {"Effect": statement["Effect"], "Action": actions, "Resource": [_resolve(r) for r in resources]}
        )
    return resolved


def allowed(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """IAM's rule for identity policies without conditions: an Allow naming the action and matching the ARN."""
    return any(
        statement["Effect"] == "Allow"
        and action in statement["Action"]
        and any(fnmatch.fnmatchcase(resource, pattern) for pattern in statement["Resource"])
        for statement in statements
    )


@pytest.mark.parametrize("role", ROLES)
def test_both_roles_grant_the_version_actions_on_the_input_buckets_objects(imported: Template, role: str):
    statements = s3_statements(imported, role)
    for action in VERSION_ACTIONS:
        assert allowed(statements, action, f"arn:aws:s3:::{INPUT}/scenes/x.tif"), f"{role} lacks {action}"
    for action in VERSION_ACTIONS:
        assert not allowed(statements, action, f"arn:aws:s3:::{OUTPUT}/archive/x.tif"), (
            f"{role}: {action} is for the uploads only; the archive's older versions are never touched"
        )


# --- AWS's action for each S3 request (Service Authorization Reference, Amazon S3) ---------------------------


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


PLAIN_OR_VERSION_ACTION = {
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "GetObjectTagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    "PutObjectTagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}
"""Requests on one object: the first action without `VersionId`, the second with it."""
OBJECT_WRITES = {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}


def required_permissions(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (action, resource) pairs AWS authorizes `operation` with `params` by; a KeyError for an operation
    this table doesn't know, so a new call can't go unchecked."""
    target = _object(params.get("Bucket", ""), params.get("Key", ""))
    if operation in PLAIN_OR_VERSION_ACTION:
        return [(PLAIN_OR_VERSION_ACTION[operation]["VersionId" in params], target)]
    if operation in {"CopyObject", "UploadPartCopy"}:
        source = params["CopySource"]
        at_source = _object(source["Bucket"], source["Key"])
        copied = [(PLAIN_OR_VERSION_ACTION["GetObject"]["VersionId" in source], at_source), ("s3:PutObject", target)]
        if operation == "CopyObject":  # its tags are copied too (TaggingDirective COPY)
            tags = PLAIN_OR_VERSION_ACTION["GetObjectTagging"]["VersionId" in source]
            copied += [(tags, at_source), ("s3:PutObjectTagging", target)]
        return copied
    if operation in OBJECT_WRITES:
        return [("s3:PutObject", target), *([("s3:PutObjectTagging", target)] if params.get("Tagging") else [])]
    others = {
        "AbortMultipartUpload": ("s3:AbortMultipartUpload", target),
        "GetBucketVersioning": ("s3:GetBucketVersioning", f"arn:aws:s3:::{params.get('Bucket')}"),
    }
    if operation in others:
        return [others[operation]]
    raise KeyError(f"no authorization rule for {operation}: add it from the Service Authorization Reference")


# --- end to end, IAM enforced ----------------------------------------------------------------------------


def _user(iam, name: str, statements: list[dict[str, Any]], endpoint: str):
    """An IAM user holding `statements`, and an S3 client signed with its key."""
    iam.create_user(UserName=name)
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    iam.put_user_policy(UserName=name, PolicyName="policy", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )


@pytest.fixture
def function_user(s3_endpoint: str, imported: Template):
    """Fresh buckets named as the imported stack's, the input versioned; an administrator's client and one for a
    user holding exactly the function role's S3 statements. IAM is enforced until the test ends."""
    reset(s3_endpoint)
    iam = boto3.client("iam", endpoint_url=s3_endpoint, region_name="us-east-1")
    admin = _user(iam, "administrator", [{"Effect": "Allow", "Action": "*", "Resource": "*"}], s3_endpoint)
    function = _user(iam, "compression-function", s3_statements(imported, "Compression/Role"), s3_endpoint)
    for bucket in (INPUT, OUTPUT):
        admin.create_bucket(Bucket=bucket)
    admin.put_bucket_versioning(Bucket=INPUT, VersioningConfiguration={"Status": "Enabled"})
    requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        yield admin, function
    finally:
        requests.post(f"{s3_endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


def recording(client) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def note(params, model, **_):
        calls.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.s3", note)
    return calls


def test_an_imported_versioned_input_is_archived_under_iam_enforcement(function_user, imported, tmp_path):
    admin, client = function_user
    version = admin.put_object(Bucket=INPUT, Key="scenes/x.tif", Body=(SAMPLES / "shade.tif").read_bytes())
    admin.put_object(Bucket=INPUT, Key="scenes/notes.tif", Body=b"not an image")
    calls = recording(client)
    store = ImageryStore(client)

    report = archive_object(
        ObjectLocation(INPUT, "scenes/x.tif"), store, Destinations(OUTPUT),
        partial(compress, profile=CompressionProfile()), str(tmp_path),
    )  # fmt: skip
    bad = store.head(ObjectLocation(INPUT, "scenes/notes.tif"))
    assert bad is not None
    with pytest.raises(PermanentError):
        archive_object(
            ObjectLocation(INPUT, "scenes/notes.tif", bad.version_id), store, Destinations(OUTPUT),
            partial(compress, profile=CompressionProfile()), str(tmp_path),
        )  # fmt: skip
    store.tag_failed(ObjectLocation(INPUT, "scenes/notes.tif", bad.version_id), "not an image")

    assert report.outcome == "archived"
    remaining = admin.list_object_versions(Bucket=INPUT, Prefix="scenes/x.tif").get("Versions", [])
    assert version["VersionId"] not in [item["VersionId"] for item in remaining], "the archived version deleted"
    statements = s3_statements(imported, "Compression/Role")
    denied = [
        (operation, action, resource)
        for operation, params in calls
        for action, resource in required_permissions(operation, params)
        if not allowed(statements, action, resource)
    ]
    assert denied == [], "AWS would refuse these requests the job makes"
    assert {action for op, params in calls for action, _ in required_permissions(op, params)} >= set(VERSION_ACTIONS)

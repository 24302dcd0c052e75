"""Storage: the bucket for manifests and reports, and the DynamoDB run ledger."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.checkers import skip_checkov
from stacks.common import cfn, removal_policy
from stacks.ledger_index import FAILED_INDEX, FAILED_KEY
from stacks.nag import acknowledge
from stacks.settings import Settings

MANIFEST_PREFIX = "runs/"
REPORT_PREFIX = "reports/"
INPUT_PREFIX = "inputs/"
PLAN_PREFIX = "plans/"
# Both buckets are versioned: an overwritten or deleted object (a rerun's manifest and report, a user's target
# list, an access log) can be restored for this long, then its old version is deleted so storage stays bounded.
NONCURRENT_VERSION_DAYS = 30


class Storage(Construct):
    """S3 bucket (runs/ manifests, reports/ reports, inputs/ user target lists, plans/ dry runs' plans) and the
    ledger table."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        removal = removal_policy(settings)
        # Server access logs of the main bucket: who read or wrote which manifest and report.
        self.access_logs = self._private_bucket(
            "AccessLogs",
            removal,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
        )
        no_log = "This is the access-log destination of the HubSpoke bucket; logging it to itself would loop."
        acknowledge(cfn(self.access_logs), "AwsSolutions-S1", no_log)
        skip_checkov(cfn(self.access_logs), "CKV_AWS_18", no_log)
        self.bucket = self._private_bucket(
            "Bucket",
            removal,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="hubspoke-bucket/",
            lifecycle_rules=[
                # Manifests are only needed while the run and its redrive window last.
                s3.LifecycleRule(
                    id="expire-manifests",
                    prefix=MANIFEST_PREFIX,
                    expiration=Duration.days(settings.ledger_ttl_days),
                ),
                s3.LifecycleRule(id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
        )
        self.ledger = self._table("Ledger", "run_id", "target_id", "expires_at", removal)
        # Sparse: only failed rows carry the key, so live progress counts a run's failures without reading its
        # successes (a poll's cost does not grow with the targets that succeeded). Keys only: enough to count.
        self.ledger.add_global_secondary_index(
            index_name=FAILED_INDEX,
            partition_key=dynamodb.Attribute(name=FAILED_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="target_id", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        # The image-push trigger: which services run which repository (kept fresh by the indexer), and
        # Powertools Idempotency records so a push delivered twice restarts a service once.
        self.image_index = self._table("ImageIndex", "repository", "service_arn", "expires_at", removal)
        self.idempotency = self._table("Idempotency", "id", None, "expiration", removal)

    def _table(
        self, construct_id: str, partition: str, sort: str | None, ttl: str, removal: RemovalPolicy
    ) -> dynamodb.Table:
        """Every table of ours: on demand, encrypted, point-in-time recovery, a TTL attribute."""
        table = dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING) if sort else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=ttl,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal,
        )
        skip_checkov(
            cfn(table),
            "CKV_AWS_119",
            "Encrypted at rest with the AWS managed key aws/dynamodb (SSESpecification). A customer managed key "
            "would add a key policy to keep and KMS calls on every read and write, for rows that hold run "
            "progress, image-to-service mappings and idempotency records, never a secret.",
        )
        return table

    def _private_bucket(
        self, construct_id: str, removal: RemovalPolicy, lifecycle_rules: list[s3.LifecycleRule], **props: Any
    ) -> s3.Bucket:
        """Every bucket of ours: SSE-S3, no public access, TLS only, versioned (old versions kept for a while)."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                *lifecycle_rules,
                # In a versioned bucket an expiration only adds a delete marker: the old version is deleted here, and
                # the marker once no version is left (S3 refuses ExpiredObjectDeleteMarker beside Days in one rule).
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    expired_object_delete_marker=True,
                ),
            ],
            removal_policy=removal,
            **props,
        )

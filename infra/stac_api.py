"""The optional STAC API (`stacApi`): pgSTAC on RDS PostgreSQL, stac-fastapi-pgstac on Lambda, and a loader.

Built here from aws-cdk-lib's own constructs rather than eoapi-cdk's: eoapi-cdk's functions and database
bootstrapper build their code with Docker at synth time from a public registry image, and this app's
synth must stay offline. The API, the loader and the migration run one image (`stac_api/Dockerfile`),
built at deploy time from PyPI wheels like the compression function's; `cdk synth` only hashes its folder.

Network, with no NAT anywhere: a VPC of isolated subnets in two zones holds the database and the three
functions; they reach S3 through a gateway endpoint (free) and Secrets Manager (the database secret)
through an interface endpoint. The API is invoked by API Gateway and the loader by its SQS event source
mapping, both from outside the VPC, so neither needs a route out. The database accepts connections only
from the functions' security group.

The loader: the output bucket sends ObjectCreated and ObjectRemoved events of `output/*.json` (Items) and
`output/*.tif` (COGs) to a queue; the loader syncs each scene into pgSTAC (`stac_api.loading.sync_scene`),
returning failed messages for redelivery, and after `LOADER_RECEIVES` receives they go to a dead-letter
queue. At most `LOADER_CONCURRENCY` loaders run at once, so a bulk upload can't exhaust the database's
connections.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, CustomResource, Duration, RemovalPolicy, Validations, custom_resources
from aws_cdk import aws_apigatewayv2 as apigateway
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3_notifications
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from infra.archive_job_resources import log_group
from infra.nag import acknowledge_wildcard_resources
from infra.settings import PipelineSettings

STAC_API_ROOT = Path(__file__).resolve().parent.parent / "stac_api"
DATABASE_NAME = "postgis"
DATABASE_USER = "postgres"
"""The master user; not `pgstac_admin`, a role pgSTAC's migrations create and grant themselves."""
DATABASE_ENGINE = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9)
DATABASE_STORAGE_GIB = 20
"""gp3, growing by itself up to `DATABASE_MAX_STORAGE_GIB`: about 2 KB a row, a million Items is 2-3 GB."""
DATABASE_MAX_STORAGE_GIB = 200
LOADER_CONCURRENCY = 5
LOADER_RECEIVES = 5
LOADER_BATCH = 10
FUNCTION_TIMEOUT = Duration.seconds(60)
MIGRATION_TIMEOUT = Duration.minutes(5)
API_MEMORY_MIB = 1024
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","caller":"$context.identity.caller",'
    '"time":"$context.requestTime","method":"$context.httpMethod","path":"$context.path",'
    '"status":"$context.status","latency":"$context.responseLatency"}'
)
HANDLERS = {
    "api": "stac_api.api_handler.handler",
    "loader": "stac_api.loader_handler.handler",
    "migration": "stac_api.migrate_handler.handler",
}


class StacApi(Construct):
    """pgSTAC, the API in front of it, the loader feeding it, and the migration that sets its schema up."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        output_bucket: s3.IBucket,
        logs_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._logs_key = logs_key
        self.vpc = self._network()
        self.functions_group = ec2.SecurityGroup(
            self, "Functions", vpc=self.vpc, description="The STAC API functions", allow_all_outbound=True
        )
        secrets_endpoint = self.vpc.add_interface_endpoint(
            "SecretsManager", service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER, open=False
        )
        secrets_endpoint.connections.allow_default_port_from(self.functions_group, "the database secret")
        self.database = self._database(settings)
        self.database.connections.allow_default_port_from(self.functions_group, "pgSTAC from the STAC functions")
        self.image = ecr_assets.DockerImageAsset(self, "Image", directory=str(STAC_API_ROOT))
        migration = self._function("Migration", "migration", settings, MIGRATION_TIMEOUT)
        self._migrate(migration)
        self.api_function = self._function("Api", "api", settings, FUNCTION_TIMEOUT, memory_mib=API_MEMORY_MIB)
        self.http_api = self._http_api()
        self.loader = self._function("Loader", "loader", settings, FUNCTION_TIMEOUT)
        self.queue = self._feed_loader(settings, output_bucket)
        self._acknowledge_findings(provider_scope=self.node.find_child("MigrationProvider"))

    def _network(self) -> ec2.Vpc:
        """Isolated subnets in two zones (RDS wants two), an S3 gateway and a Secrets Manager endpoint; no NAT."""
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={
                "Rejected": ec2.FlowLogOptions(
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(log_group(self, "FlowLogs", self._logs_key)),
                )
            },
        )
        return vpc

    def _database(self, settings: PipelineSettings) -> rds.DatabaseInstance:
        """One PostgreSQL instance (PostGIS is an extension RDS ships), encrypted, in the isolated subnets."""
        return rds.DatabaseInstance(
            self,
            "Database",
            engine=DATABASE_ENGINE,
            instance_type=ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON, ec2.InstanceSize.SMALL),
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(DATABASE_USER),
            allocated_storage=DATABASE_STORAGE_GIB,
            max_allocated_storage=DATABASE_MAX_STORAGE_GIB,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            multi_az=False,
            publicly_accessible=False,
            backup_retention=Duration.days(7),
            deletion_protection=not settings.destroy_buckets_with_stack,
            removal_policy=RemovalPolicy.DESTROY if settings.destroy_buckets_with_stack else RemovalPolicy.SNAPSHOT,
            iam_authentication=True,
        )

    def _function(
        self, construct_id: str, handler: str, settings: PipelineSettings, timeout: Duration, memory_mib: int = 512
    ) -> lambda_.DockerImageFunction:
        """A function of the STAC image, in the isolated subnets, allowed to read the database secret."""
        role = iam.Role(self, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
        )
        logs_group = log_group(self, f"{construct_id}Logs", self._logs_key)
        function = lambda_.DockerImageFunction(
            self,
            construct_id,
            code=lambda_.DockerImageCode.from_ecr(
                self.image.repository, tag_or_digest=self.image.image_tag, cmd=[HANDLERS[handler]]
            ),
            memory_size=memory_mib,
            timeout=timeout,
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.functions_group],
            role=role,
            log_group=logs_group,
            environment={"PGSTAC_SECRET_ARN": self.secret.secret_arn, "OUTPUT_PREFIX": settings.output_prefix},
        )
        self.secret.grant_read(role)
        return function

    @property
    def secret(self) -> rds.DatabaseSecret:
        secret = self.database.secret
        assert secret is not None, "the database's credentials are a generated secret"
        return secret  # type: ignore[return-value]

    def _migrate(self, migration: lambda_.DockerImageFunction) -> None:
        """pypgstac's migrations on every deployment that changes the image (a new pypgstac), before the API serves."""
        provider = custom_resources.Provider(self, "MigrationProvider", on_event_handler=migration)
        resource = CustomResource(
            self,
            "PgstacSchema",
            service_token=provider.service_token,
            properties={"Image": self.image.image_tag},
        )
        resource.node.add_dependency(self.database)

    def _http_api(self) -> apigateway.HttpApi:
        """An HTTP API, IAM-authorized (SigV4): the catalogue of an archive is not for the whole Internet."""
        access_logs = log_group(self, "ApiAccessLogs", self._logs_key)
        api = apigateway.HttpApi(
            self,
            "HttpApi",
            description="STAC API (stac-fastapi-pgstac) over the archive's pgSTAC database",
            default_integration=integrations.HttpLambdaIntegration("Stac", self.api_function),
            default_authorizer=authorizers.HttpIamAuthorizer(),
        )
        stage = api.default_stage
        assert stage is not None, "HttpApi makes a $default stage by default"
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigateway.CfnStage)
        cfn_stage.access_log_settings = apigateway.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn, format=ACCESS_LOG_FORMAT
        )
        return api

    def _feed_loader(self, settings: PipelineSettings, output_bucket: s3.IBucket) -> sqs.Queue:
        """Item and COG events of the output bucket, through a queue (with a dead-letter queue), to the loader."""
        dead_letters = sqs.Queue(self, "LoaderDeadLetters", enforce_ssl=True, retention_period=Duration.days(14))
        self.dead_letters = dead_letters
        queue = sqs.Queue(
            self,
            "LoaderQueue",
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(FUNCTION_TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=LOADER_RECEIVES, queue=dead_letters),
        )
        destination = s3_notifications.SqsDestination(queue)
        for event in (s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED):
            for suffix in (".json", ".tif"):
                output_bucket.add_event_notification(
                    event, destination, s3.NotificationKeyFilter(prefix=settings.output_prefix, suffix=suffix)
                )
        self.loader.add_event_source(
            event_sources.SqsEventSource(
                queue, batch_size=LOADER_BATCH, report_batch_item_failures=True, max_concurrency=LOADER_CONCURRENCY
            )
        )
        self._allow_loader_reads(output_bucket, settings)
        return queue

    def _allow_loader_reads(self, output_bucket: s3.IBucket, settings: PipelineSettings) -> None:
        """Items, COG heads and Collections; ListBucket, so a missing key is a 404, not a 403 (see `permissions`)."""
        documents = [
            output_bucket.arn_for_objects(f"{settings.output_prefix}*"),
            output_bucket.arn_for_objects(f"{settings.catalog_prefix}*"),
        ]
        self.loader.add_to_role_policy(
            iam.PolicyStatement(sid="ReadItemsCogsAndCollections", actions=["s3:GetObject"], resources=documents)
        )
        assert self.loader.role is not None
        acknowledge_wildcard_resources(
            self.loader.role,
            documents,
            reason="Items and COGs are named by their uploads; reads only, in the output and catalog prefixes.",
        )
        self.loader.add_to_role_policy(
            iam.PolicyStatement(sid="ListForNotFound", actions=["s3:ListBucket"], resources=[output_bucket.bucket_arn])
        )

    def _acknowledge_findings(self, provider_scope: IConstruct) -> None:
        """The cdk-nag findings this design accepts, each with why."""
        Validations.of(self.database).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-RDS3",
                reason="One zone: pgSTAC is an index of the bucket, rebuilt from S3 by `imagery-archive catalog "
                "load` if its zone fails; Multi-AZ would double the database's cost.",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-RDS11",
                reason="The instance is in isolated subnets and admits only the STAC functions' security group.",
            ),
        )
        Validations.of(self.database.node.find_child("Secret")).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="The functions read the credentials at cold start; a rotation would break warm ones. "
                "The database is reachable only from the functions' security group.",
            )
        )
        for function in (self.api_function, self.loader, self.node.find_child("Migration")):
            assert isinstance(function, lambda_.Function)
            assert function.role is not None
            Validations.of(function.role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AWSLambdaVPCAccessExecutionRole]",
                    reason="A function in a VPC needs its network interfaces and logs: AWS's own minimal policy.",
                )
            )
        Validations.of(provider_scope).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]",
                reason="aws-cdk-lib's custom resource framework, run at deploy time only to call the migration.",
            ),
        )
        migration = self.node.find_child("Migration")
        assert isinstance(migration, lambda_.Function)
        acknowledge_wildcard_resources(
            provider_scope,
            [f"{migration.function_arn}:*"],
            reason="The framework may invoke any version of the migration function, and only that function.",
        )

"""Scenes beyond the function's ceiling: the same archive job on AWS Batch (Fargate), in the same image.

The function submits an object of at least `LARGE_SCENE_BYTES` as one job to this queue; the job runs
`python3 -m imagery_archive.job` in the function's own image, with the function's environment contract,
on a Fargate task with up to 200 GiB of disk and no time limit but the job timeout.

Network without a NAT gateway: a VPC of public subnets (the task gets a public IP to reach ECR and
CloudWatch Logs; its security group admits nothing inbound) with an S3 gateway endpoint, so scene bytes
never leave the AWS network nor pay for NAT; or an existing VPC, by `vpcId` (its private subnets if it has
any, which must reach ECR and CloudWatch Logs, else its public subnets).

A job that ends FAILED (exit code 2, or 1 on its last attempt, or a timeout) is sent by an EventBridge
rule to the pipeline's failure queue, whose alarm fires as for a failed function event.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Size, Validations
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from imagery_archive.entrypoints.batch_exit_codes import EXIT_PERMANENT, EXIT_RETRY
from imagery_archive.settings import METRICS_NAMESPACE
from infra.archive_job_resources import archive_job_role, log_group
from infra.job_states import JobStateLog
from infra.service_roles import ECS_TASKS, VPC_FLOW_LOGS, scoped_principal
from infra.settings import PipelineSettings

JOB_COMMAND = ["python3", "-m", "imagery_archive.job"]
JOB_ATTEMPTS = 3
"""Attempts of one job: a transient failure (exit 1) is retried twice, as Lambda retries a failed event."""
LOG_STREAM_PREFIX = "large-scene"
JOB_USER = "10001:10001"
"""The job's user and group (not root): the image gives it the scratch folder (lambda_src/Dockerfile)."""
SCRATCH_PATH = "/scratch"
"""The job's only writable place (its root file system is read-only): a task volume on Fargate's ephemeral
storage, declared a VOLUME owned by `JOB_USER` in the image so that Fargate gives the volume that owner."""
SCRATCH_VOLUME = "scratch"
HTTPS = 443
UNTRACED = {"POWERTOOLS_TRACE_DISABLED": "true"}
"""Fargate has no X-Ray daemon, and the job definition holds one container: the job is not traced (its logs,
with `batch_job_id`, and its state changes follow it instead). Powertools would turn tracing off outside Lambda
by itself; saying so in the job's environment makes it explicit."""

_CPU_ARCHITECTURES = {"x86_64": ecs.CpuArchitecture.X86_64, "arm64": ecs.CpuArchitecture.ARM64}


class LargeSceneJob(Construct):
    """A Fargate compute environment, a job queue and a job definition that runs the archive job once per scene."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        image: ecr_assets.DockerImageAsset,
        environment: dict[str, str],
        input_bucket: s3.IBucket,
        output_bucket: s3.IBucket,
        failure_queue: sqs.IQueue,
        logs_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._logs_key = logs_key
        self.log_group = log_group(self, "Logs", logs_key)
        self.vpc, subnets, public_ip = self._network(settings)
        self._roles(settings, input_bucket, output_bucket, failure_queue)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Large-scene jobs: nothing inbound; HTTPS out to S3, ECR and CloudWatch Logs.",
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS), "HTTPS to AWS APIs")
        compute = batch.FargateComputeEnvironment(
            self,
            "ComputeEnvironment",
            vpc=self.vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            maxv_cpus=settings.large_scene_max_vcpus,
        )
        self.queue = batch.JobQueue(
            self, "Queue", compute_environments=[batch.OrderedComputeEnvironment(compute_environment=compute, order=1)]
        )
        self.job_definition = self._job_definition(settings, image, environment | UNTRACED, public_ip)
        self.states = JobStateLog(self, "States", job_queue=self.queue, logs_key=logs_key)
        Validations.of(self.execution_role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="Only ecr:GetAuthorizationToken is granted on '*': it takes no resource (an ECR login "
                "token is per registry, not per repository). Pulling layers is granted on the function's "
                "image repository alone.",
            )
        )
        self.failed_jobs = self._send_failed_jobs_to(failure_queue)

    def _roles(
        self, settings: PipelineSettings, input_bucket: s3.IBucket, output_bucket: s3.IBucket, failure_queue: sqs.IQueue
    ) -> None:
        """The job's role (exactly the function's S3 and failure-report statements) and its execution role (image
        and logs only)."""
        self.job_role = archive_job_role(
            self,
            "JobRole",
            service=ECS_TASKS,
            description="The large-scene archive job: exactly the compression function's S3 permissions.",
            settings=settings,
            input_bucket=input_bucket,
            output_bucket=output_bucket,
            failure_queue=failure_queue,
        )
        # CloudWatch extracts EMF from Lambda's output only: the job sends its metrics itself, to its namespace only.
        self.job_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            )
        )
        Validations.of(self.job_role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="Only cloudwatch:PutMetricData is granted on '*', and only for the pipeline's metrics "
                "namespace (a condition): PutMetricData takes no resource.",
            )
        )
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=scoped_principal(self, ECS_TASKS),
            description="Starts the large-scene job: pulls its image and writes its logs, nothing else.",
        )

    def _network(self, settings: PipelineSettings) -> tuple[ec2.IVpc, ec2.SubnetSelection, bool]:
        """The VPC, the subnets the tasks run in, and whether they need a public IP to reach AWS APIs."""
        if settings.vpc_id:
            vpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
            if vpc.private_subnets:
                return vpc, ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS), False
            return vpc, ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC), True
        flow_logs = log_group(self, "FlowLogs", self._logs_key)
        flow_logs_role = iam.Role(
            self,
            "FlowLogsRole",
            assumed_by=scoped_principal(self, VPC_FLOW_LOGS),
            description="Delivers the large-scene VPC's rejected-traffic flow logs to their log group.",
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC)],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={
                "Rejected": ec2.FlowLogOptions(
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs, flow_logs_role),
                )
            },
        )
        return vpc, ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC), True

    def _job_definition(
        self,
        settings: PipelineSettings,
        image: ecr_assets.DockerImageAsset,
        environment: dict[str, str],
        public_ip: bool,
    ) -> batch.EcsJobDefinition:
        container = batch.EcsFargateContainerDefinition(
            self,
            "Container",
            image=ecs.ContainerImage.from_docker_image_asset(image),
            command=JOB_COMMAND,
            cpu=settings.large_scene_vcpus,
            memory=Size.mebibytes(settings.large_scene_memory_mib),
            ephemeral_storage_size=Size.gibibytes(settings.large_scene_storage_gib),
            environment={**environment, "CPL_TMPDIR": SCRATCH_PATH, "TMPDIR": SCRATCH_PATH},
            user=JOB_USER,
            readonly_root_filesystem=True,
            volumes=[batch.EcsVolume.host(name=SCRATCH_VOLUME, container_path=SCRATCH_PATH)],
            job_role=self.job_role,
            execution_role=self.execution_role,
            logging=ecs.LogDriver.aws_logs(stream_prefix=LOG_STREAM_PREFIX, log_group=self.log_group),
            assign_public_ip=public_ip,
            fargate_cpu_architecture=_CPU_ARCHITECTURES[settings.architecture],
            fargate_operating_system_family=ecs.OperatingSystemFamily.LINUX,
            fargate_platform_version=ecs.FargatePlatformVersion.LATEST,
        )
        definition = batch.EcsJobDefinition(
            self,
            "JobDefinition",
            container=container,
            timeout=Duration.hours(settings.large_scene_timeout_hours),
            retry_attempts=JOB_ATTEMPTS,
            retry_strategies=[
                batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom(on_exit_code=str(EXIT_PERMANENT))),
                batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom(on_exit_code=str(EXIT_RETRY))),
            ],
            propagate_tags=True,
        )
        # An empty task volume on Fargate's ephemeral storage: AWS Batch takes no `host` for Fargate jobs, and
        # `EcsVolume.host` without a host path still writes an empty one.
        cfn_definition = definition.node.default_child
        assert isinstance(cfn_definition, batch.CfnJobDefinition)
        cfn_definition.add_property_deletion_override("ContainerProperties.Volumes.0.Host")
        return definition

    def _send_failed_jobs_to(self, failure_queue: sqs.IQueue) -> events.Rule:
        """Every job of this queue that ends FAILED: its state-change event (job, key, reason) to the failure queue."""
        rule = events.Rule(
            self,
            "FailedJobs",
            description="Large-scene archive jobs that ended FAILED, to the pipeline's failure queue.",
            event_pattern=events.EventPattern(
                source=["aws.batch"],
                detail_type=["Batch Job State Change"],
                detail={"status": ["FAILED"], "jobQueue": [self.queue.job_queue_arn]},
            ),
        )
        rule.add_target(targets.SqsQueue(failure_queue))
        return rule

    def route_from(self, function: lambda_.Function, threshold_bytes: int) -> None:
        """Let `function` submit objects of at least `threshold_bytes` here, and find a live job of the same
        upload first (ListJobs); nothing else on AWS Batch."""
        function.add_environment("LARGE_SCENE_JOB_QUEUE", self.queue.job_queue_arn)
        function.add_environment("LARGE_SCENE_JOB_DEFINITION", self.job_definition.job_definition_arn)
        function.add_environment("LARGE_SCENE_BYTES", str(threshold_bytes))
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="SubmitLargeSceneJobs",
                actions=["batch:SubmitJob"],
                resources=[self.queue.job_queue_arn, self.job_definition.job_definition_arn],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(sid="FindLiveLargeSceneJobs", actions=["batch:ListJobs"], resources=["*"])
        )
        assert function.role is not None  # the function's own role (`permissions`), never an imported one
        Validations.of(function.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="Only batch:ListJobs is granted on '*': it takes no resource (AWS Batch's service "
                "authorization reference), and reads job names and states only. A redelivered event uses it "
                "to find its upload's live job instead of submitting a second one.",
            )
        )

# MeiliSearch as one Fargate task whose database lives on EFS, found by the application at
# http://meili.<namespace>:7700. One task only: two MeiliSearch processes must never open the
# same database, so a deployment stops the old task before it starts the new one (a minute or
# so during which search answers 503 search_unavailable and indexing retries afterwards).

data "aws_region" "current" {}

locals {
  port      = 7700
  data_path = "/meili_data"
  uid       = 1000
}

resource "random_password" "master_key" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "master_key" {
  #checkov:skip=CKV2_AWS_57:Not rotated automatically: MeiliSearch reads its master key at start and every API key derives from it, so a rotation is a planned restart of MeiliSearch and of shopfleet (README.md, "Rotating secrets").
  name                    = "${var.name}/meilisearch/master-key"
  description             = "MEILI_MASTER_KEY of MeiliSearch (also the application's MEILI_API_KEY)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "master_key" {
  secret_id     = aws_secretsmanager_secret.master_key.id
  secret_string = random_password.master_key.result
}

# ---- storage ---------------------------------------------------------------------------

resource "aws_efs_file_system" "this" {
  encrypted        = true
  kms_key_id       = var.kms_key_arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  tags = { Name = "${var.name}-meilisearch" }
}

resource "aws_efs_backup_policy" "this" {
  file_system_id = aws_efs_file_system.this.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "this" {
  count = length(var.subnet_ids)

  file_system_id  = aws_efs_file_system.this.id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = [var.storage_security_group_id]
}

resource "aws_efs_access_point" "this" {
  file_system_id = aws_efs_file_system.this.id

  posix_user {
    uid = local.uid
    gid = local.uid
  }

  root_directory {
    path = "/meilisearch"
    creation_info {
      owner_uid   = local.uid
      owner_gid   = local.uid
      permissions = "0750"
    }
  }

  tags = { Name = "${var.name}-meilisearch" }
}

resource "aws_efs_file_system_policy" "this" {
  file_system_id = aws_efs_file_system.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "MeiliSearchTaskThroughAccessPoint"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.task.arn }
        Action    = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
        Resource  = aws_efs_file_system.this.arn
        Condition = {
          StringEquals = { "elasticfilesystem:AccessPointArn" = aws_efs_access_point.this.arn }
          Bool         = { "elasticfilesystem:AccessedViaMountTarget" = "true" }
        }
      },
      {
        Sid       = "TlsOnly"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "*"
        Resource  = aws_efs_file_system.this.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

# ---- IAM -------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Used by ECS to start the task: pull the image, write logs, read the master key.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-meili-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secrets" {
  name = "read-master-key"
  role = aws_iam_role.execution.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = aws_secretsmanager_secret.master_key.arn
      },
      {
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.kms_key_arn
      },
    ]
  })
}

# Used by MeiliSearch itself: mount and write its file system, nothing else.
resource "aws_iam_role" "task" {
  name               = "${var.name}-meili-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task_efs" {
  name = "mount-data"
  role = aws_iam_role.task.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
      Resource = aws_efs_file_system.this.arn
      Condition = {
        StringEquals = { "elasticfilesystem:AccessPointArn" = aws_efs_access_point.this.arn }
      }
    }]
  })
}

# ---- task and service ------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = "/${var.name}/meilisearch"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_task_definition" "this" {
  family                   = "${var.name}-meilisearch"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "data"
    efs_volume_configuration {
      file_system_id     = aws_efs_file_system.this.id
      transit_encryption = "ENABLED"
      authorization_config {
        access_point_id = aws_efs_access_point.this.id
        iam             = "ENABLED"
      }
    }
  }

  # Scratch space for indexing; the root file system is read-only.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "meilisearch"
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    portMappings           = [{ containerPort = local.port, protocol = "tcp" }]
    environment = [
      { name = "MEILI_ENV", value = "production" },
      { name = "MEILI_HTTP_ADDR", value = "0.0.0.0:${local.port}" },
      { name = "MEILI_DB_PATH", value = "${local.data_path}/data.ms" },
      { name = "MEILI_DUMP_DIR", value = "${local.data_path}/dumps" },
      { name = "MEILI_SNAPSHOT_DIR", value = "${local.data_path}/snapshots" },
      { name = "MEILI_NO_ANALYTICS", value = "true" },
      # MeiliSearch sizes its indexing memory from the host's RAM, which on Fargate is more
      # than the task's: cap it at half the task.
      { name = "MEILI_MAX_INDEXING_MEMORY", value = tostring(floor(var.memory / 2) * 1048576) },
      { name = "TMPDIR", value = "/tmp" },
    ]
    secrets = [
      { name = "MEILI_MASTER_KEY", valueFrom = aws_secretsmanager_secret.master_key.arn },
    ]
    mountPoints = [
      { sourceVolume = "data", containerPath = local.data_path, readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    healthCheck = {
      command     = ["CMD-SHELL", "curl -fsS http://127.0.0.1:${local.port}/health || exit 1"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "meilisearch"
      }
    }
  }])
}

resource "aws_service_discovery_service" "this" {
  name = "meili"

  dns_config {
    namespace_id   = var.namespace_id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

resource "aws_ecs_service" "this" {
  name             = "${var.name}-meilisearch"
  cluster          = var.cluster_id
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  # Never two MeiliSearch processes on one database: stop, then start.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_id]
    assign_public_ip = false
  }

  service_registries {
    registry_arn = aws_service_discovery_service.this.arn
  }

  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  depends_on = [aws_efs_mount_target.this, aws_efs_file_system_policy.this]
}

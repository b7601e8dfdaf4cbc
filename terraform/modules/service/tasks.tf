# Three task definitions from one image and one set of settings:
#   serve        the HTTP API (the ECS service below runs it)
#   migrate      `shopfleet migrate`: platform migrations, then every shop's tenant migrations;
#                run once per deploy, before the service is updated (README.md)
#   db-bootstrap creates the application's PostgreSQL role and database once, as the master user

data "aws_region" "current" {}

locals {
  region        = data.aws_region.current.name
  app_port      = 8080
  container     = "shopfleet"
  image         = "${var.image_repository}:${var.image_tag}"
  migrate_image = "${var.image_repository}:${var.migrate_image_tag}"
  search_key    = var.meili_search_key_uid != "" && var.meili_search_key_secret_arn != ""

  app_environment = concat(
    [
      { name = "LISTEN_ADDR", value = "0.0.0.0:${local.app_port}" },
      { name = "BASE_DOMAIN", value = var.base_domain },
      { name = "PUBLIC_URL_TEMPLATE", value = var.public_url_template },
      { name = "DATABASE_MAX_CONNECTIONS", value = tostring(var.database_max_connections) },
      { name = "S3_BUCKET", value = var.objects_bucket_name },
      { name = "S3_REGION", value = local.region },
      { name = "RUST_LOG", value = var.rust_log },
    ],
    length(var.cors_allowed_origins) > 0 ? [{ name = "CORS_ALLOWED_ORIGINS", value = join(",", var.cors_allowed_origins) }] : [],
    var.meili_enabled ? [{ name = "MEILI_URL", value = var.meili_url }] : [],
    local.search_key ? [{ name = "MEILI_SEARCH_KEY_UID", value = var.meili_search_key_uid }] : [],
    [for key in sort(keys(var.extra_environment)) : { name = key, value = var.extra_environment[key] }],
  )

  app_secrets = concat(
    [
      { name = "DATABASE_URL", valueFrom = var.database_url_secret_arn },
      { name = "JWT_SECRET", valueFrom = aws_secretsmanager_secret.jwt.arn },
    ],
    var.meili_enabled ? [{ name = "MEILI_API_KEY", valueFrom = var.meili_api_key_secret_arn }] : [],
    local.search_key ? [{ name = "MEILI_SEARCH_KEY", valueFrom = var.meili_search_key_secret_arn }] : [],
  )

  app_secret_arns = concat(
    [var.database_url_secret_arn, aws_secretsmanager_secret.jwt.arn],
    var.meili_enabled ? [var.meili_api_key_secret_arn] : [],
    local.search_key ? [var.meili_search_key_secret_arn] : [],
  )

  log_configuration = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.app.name
      awslogs-region        = local.region
      awslogs-stream-prefix = "shopfleet"
    }
  }
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/${var.name}/app"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# ---- JWT secret ------------------------------------------------------------------------

# 64 letters and digits: well over the 32 bytes JWT_SECRET needs.
resource "random_password" "jwt" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "jwt" {
  #checkov:skip=CKV2_AWS_57:Not rotated automatically: shopfleet verifies tokens with one secret only, so a rotation signs every user out; rotate deliberately (README.md, "Rotating secrets").
  name                    = "${var.name}/jwt-secret"
  description             = "JWT_SECRET of the shopfleet service"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id     = aws_secretsmanager_secret.jwt.id
  secret_string = random_password.jwt.result
}

# ---- serve -----------------------------------------------------------------------------

resource "aws_ecs_task_definition" "serve" {
  family                   = "${var.name}-serve"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.app.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = local.container
    image                  = local.image
    essential              = true
    command                = ["serve"]
    readonlyRootFilesystem = true
    portMappings           = [{ containerPort = local.app_port, protocol = "tcp" }]
    environment            = local.app_environment
    secrets                = local.app_secrets
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    ulimits                = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    stopTimeout            = 30
    # Liveness only, as in the Dockerfile: /readyz would take every task out when the
    # database blips, and ECS would replace them all.
    healthCheck = {
      command     = ["CMD-SHELL", "curl -fsS http://127.0.0.1:${local.app_port}/healthz || exit 1"]
      interval    = 15
      timeout     = 3
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = local.log_configuration
  }])
}

# ---- migrate ---------------------------------------------------------------------------

resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.migrate_cpu)
  memory                   = tostring(var.migrate_memory)
  execution_role_arn       = aws_iam_role.execution.arn
  # No task role: migrations talk to PostgreSQL only.

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([{
    name                   = local.container
    image                  = local.migrate_image
    essential              = true
    command                = ["migrate", "--concurrency", tostring(var.migrate_concurrency)]
    readonlyRootFilesystem = true
    environment = [
      { name = "RUST_LOG", value = var.rust_log },
      # One connection per shop migrated at once, and a few for the platform.
      { name = "DATABASE_MAX_CONNECTIONS", value = tostring(var.migrate_concurrency + 2) },
    ]
    secrets          = [{ name = "DATABASE_URL", valueFrom = var.database_url_secret_arn }]
    logConfiguration = local.log_configuration
  }])
}

# ---- db-bootstrap ----------------------------------------------------------------------

locals {
  # Idempotent: creates the role and database when missing, (re)sets the role's password,
  # and hands the database and its schema public to the role (README.md, "Database in
  # production"). The master user stays a member of the role, which is what lets it do so.
  bootstrap_script = <<-EOT
    set -eu
    psql -v ON_ERROR_STOP=1 -v app_user="$APP_DB_USER" -v app_password="$APP_DB_PASSWORD" -v app_db="$APP_DB_NAME" <<'SQL'
    \set ON_ERROR_STOP 0
    set log_statement = 'none';
    \set ON_ERROR_STOP 1
    select format('create role %I login createrole noinherit', :'app_user')
      where not exists (select from pg_roles where rolname = :'app_user') \gexec
    select format('alter role %I login createrole noinherit password %L', :'app_user', :'app_password') \gexec
    select format('grant %I to current_user', :'app_user') \gexec
    select format('create database %I', :'app_db')
      where not exists (select from pg_database where datname = :'app_db') \gexec
    SQL
    psql -v ON_ERROR_STOP=1 -v app_user="$APP_DB_USER" -v app_db="$APP_DB_NAME" --dbname="$APP_DB_NAME" <<'SQL'
    select format('alter schema public owner to %I', :'app_user')
      where (select nspowner::regrole::text from pg_namespace where nspname = 'public') <> quote_ident(:'app_user') \gexec
    select format('alter database %I owner to %I', :'app_db', :'app_user')
      where (select datdba::regrole::text from pg_database where datname = :'app_db') <> quote_ident(:'app_user') \gexec
    SQL
    echo "db-bootstrap: role $APP_DB_USER owns database $APP_DB_NAME and its schema public"
  EOT
}

resource "aws_ecs_task_definition" "db_bootstrap" {
  family                   = "${var.name}-db-bootstrap"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  execution_role_arn       = aws_iam_role.bootstrap_execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([{
    name                   = "db-bootstrap"
    image                  = var.postgres_client_image
    essential              = true
    entryPoint             = ["sh", "-c"]
    command                = [local.bootstrap_script]
    readonlyRootFilesystem = true
    environment = [
      { name = "PGHOST", value = var.database_host },
      { name = "PGPORT", value = tostring(var.database_port) },
      { name = "PGUSER", value = var.database_master_username },
      { name = "PGDATABASE", value = "postgres" },
      { name = "PGSSLMODE", value = "require" },
      { name = "APP_DB_USER", value = var.database_app_username },
      { name = "APP_DB_NAME", value = var.database_app_name },
    ]
    secrets = [
      { name = "PGPASSWORD", valueFrom = "${var.database_master_secret_arn}:password::" },
      { name = "APP_DB_PASSWORD", valueFrom = var.database_app_password_secret_arn },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "db-bootstrap"
      }
    }
  }])
}

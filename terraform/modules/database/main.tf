# RDS PostgreSQL. The master user (password generated and rotated by RDS in Secrets Manager)
# is used once, by the db-bootstrap task, to create the application's own role: a
# NOINHERIT CREATEROLE login that owns the database, as README.md ("Database in production")
# requires. The application never sees the master password.

locals {
  major_version = split(".", var.engine_version)[0]
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-pg${local.major_version}-"
  family      = "postgres${local.major_version}"
  description = "${var.name}: TLS only, slow-query and DDL logging"

  # Clients must use TLS (the application's DATABASE_URL carries sslmode=require).
  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "pending-reboot"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.slow_query_ms)
  }

  # "none" by default: with "ddl" the db-bootstrap task's ALTER ROLE ... PASSWORD would be
  # written to the exported logs in clear text (it first tries to turn statement logging off
  # for its own session, which needs a privilege RDS may not grant). Slow statements are
  # logged either way.
  parameter {
    name  = "log_statement"
    value = var.log_statement
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role" "monitoring" {
  name = "${var.name}-rds-monitoring"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# RDS would create these groups itself, unencrypted and kept forever.
resource "aws_cloudwatch_log_group" "exports" {
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_161:IAM database authentication does not fit: the application keeps a pool of long-lived connections opened with the password of DATABASE_URL and cannot renew 15-minute IAM tokens.
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.multi_az
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = var.backup_retention_days
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false

  iam_database_authentication_enabled = false

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]

  depends_on = [aws_cloudwatch_log_group.exports, aws_iam_role_policy_attachment.monitoring]
}

# ---- the application's credentials -----------------------------------------------------

# Letters and digits only, so that the password needs no escaping inside DATABASE_URL.
resource "random_password" "app" {
  length  = 40
  special = false
}

resource "aws_secretsmanager_secret" "app_password" {
  #checkov:skip=CKV2_AWS_57:Not rotated automatically: a rotation must change the role's password and DATABASE_URL together and restart every task; rerun db-bootstrap after tainting random_password.app instead (README.md, "Rotating secrets").
  name                    = "${var.name}/database/app-password"
  description             = "Password of the ${var.app_username} role (read by the db-bootstrap task)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "app_password" {
  secret_id     = aws_secretsmanager_secret.app_password.id
  secret_string = random_password.app.result
}

resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:Not rotated automatically: it is derived from the app password, rotated as described in README.md ("Rotating secrets").
  name                    = "${var.name}/database/url"
  description             = "DATABASE_URL of the shopfleet tasks"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id = aws_secretsmanager_secret.database_url.id
  # sslmode=require: encrypted, server certificate not verified (the RDS CA is not among the
  # image's system roots). See README.md for verify-full.
  secret_string = "postgres://${var.app_username}:${random_password.app.result}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${var.app_database}?sslmode=require"
}

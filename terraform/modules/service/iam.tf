data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# ---- execution role of serve and migrate: pull, log, read the application's secrets ------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-app-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secrets" {
  name = "read-app-secrets"
  role = aws_iam_role.execution.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = local.app_secret_arns
      },
      {
        # Secrets and the ECR repository are encrypted with the deployment's key.
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.kms_key_arn
      },
    ]
  })
}

# ---- task role of serve: its bucket's shop objects, nothing else ------------------------

resource "aws_iam_role" "app" {
  name               = "${var.name}-app-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "app_objects" {
  name = "shop-objects"
  role = aws_iam_role.app.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Upload (directly and through presigned PUT URLs, which carry this role's
        # credentials), read, copy (completion of a direct upload), delete (images, purged
        # shops): every key is under shops/<shop id>/.
        Sid      = "ShopObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = "${var.objects_bucket_arn}/shops/*"
      },
      {
        # Listing a purged shop's prefix; it also makes a HEAD of a missing key answer 404
        # rather than 403, which the completion of a direct upload relies on.
        Sid      = "ListShopObjects"
        Effect   = "Allow"
        Action   = "s3:ListBucket"
        Resource = var.objects_bucket_arn
      },
      {
        # The bucket is encrypted with SSE-KMS.
        Sid      = "ObjectsKey"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = var.kms_key_arn
        Condition = {
          StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
        }
      },
    ]
  })
}

# ---- execution role of db-bootstrap: the master password and the app's password ---------

resource "aws_iam_role" "bootstrap_execution" {
  name               = "${var.name}-db-bootstrap-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "bootstrap_execution" {
  role       = aws_iam_role.bootstrap_execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "bootstrap_execution_secrets" {
  name = "read-database-secrets"
  role = aws_iam_role.bootstrap_execution.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = [var.database_master_secret_arn, var.database_app_password_secret_arn]
      },
      {
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.kms_key_arn
      },
    ]
  })
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

data "aws_elb_service_account" "this" {
  count = var.alb_legacy_log_delivery ? 1 : 0
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  suffix     = "${local.account_id}-${data.aws_region.current.name}"
}

# ---- logs bucket: load balancer and S3 access logs -------------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_144:Cross-region replication of access logs is a compliance choice left to the operator; it doubles the storage bill.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of new log files.
  #checkov:skip=CKV_AWS_145:Load balancer access logs can only be written to a bucket encrypted with SSE-S3, not SSE-KMS.
  bucket = "${var.name}-logs-${local.suffix}"
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}

    expiration {
      days = var.log_bucket_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "AlbAccessLogs"
          Effect    = "Allow"
          Principal = { Service = "logdelivery.elasticloadbalancing.amazonaws.com" }
          Action    = "s3:PutObject"
          Resource  = "${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"
        },
        {
          Sid       = "S3ServerAccessLogs"
          Effect    = "Allow"
          Principal = { Service = "logging.s3.amazonaws.com" }
          Action    = "s3:PutObject"
          Resource  = "${aws_s3_bucket.logs.arn}/s3/*"
          Condition = {
            ArnLike      = { "aws:SourceArn" = aws_s3_bucket.objects.arn }
            StringEquals = { "aws:SourceAccount" = local.account_id }
          }
        },
        {
          Sid       = "TlsOnly"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:*"
          Resource  = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ],
      [
        for account in data.aws_elb_service_account.this : {
          Sid       = "AlbAccessLogsLegacyRegions"
          Effect    = "Allow"
          Principal = { AWS = account.arn }
          Action    = "s3:PutObject"
          Resource  = "${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"
        }
      ],
    )
  })

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# ---- objects bucket: product images of every shop (shops/<shop id>/...) ----------------

resource "aws_s3_bucket" "objects" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice left to the operator (it doubles storage and adds transfer costs); versioning and the application's own deletion through the outbox cover mistakes.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: the application tracks uploads in PostgreSQL and completes them through its API.
  bucket = "${var.name}-objects-${local.suffix}"
}

resource "aws_s3_bucket_ownership_controls" "objects" {
  bucket = aws_s3_bucket.objects.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "objects" {
  bucket                  = aws_s3_bucket.objects.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "objects" {
  bucket = aws_s3_bucket.objects.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # One data key per bucket and period instead of a KMS call per object.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "objects" {
  bucket = aws_s3_bucket.objects.id
  versioning_configuration {
    status = var.versioning ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_logging" "objects" {
  bucket        = aws_s3_bucket.objects.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/objects/"

  depends_on = [aws_s3_bucket_policy.logs]
}

# Storefront and admin pages PUT images straight to S3 through presigned URLs
# (POST /v1/admin/media/uploads), so the browser's origin must be allowed here.
resource "aws_s3_bucket_cors_configuration" "objects" {
  bucket = aws_s3_bucket.objects.id

  cors_rule {
    allowed_methods = ["PUT", "GET", "HEAD"]
    allowed_origins = concat(
      ["https://${var.base_domain}", "https://*.${var.base_domain}"],
      var.extra_cors_origins,
    )
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

# A presigned upload is a single PUT of a key `shops/<shop>/products/<product>/upload-<id>.<ext>`.
# S3 lifecycle rules filter by key prefix or tag only, and the shop id comes first, so no rule
# can single out abandoned upload keys: the application deletes them itself (expired uploads
# are swept, with their objects, when a shop starts its next upload; completed ones are
# retired at completion). What the bucket does: abort unfinished multipart uploads, and
# expire the earlier versions that deletions and retired upload keys leave when versioning is
# on.
resource "aws_s3_bucket_lifecycle_configuration" "objects" {
  bucket = aws_s3_bucket.objects.id

  rule {
    id     = "abandoned-multipart-uploads"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abandoned_upload_days
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.objects]
}

resource "aws_s3_bucket_policy" "objects" {
  bucket = aws_s3_bucket.objects.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "TlsOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.objects.arn, "${aws_s3_bucket.objects.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.objects]
}

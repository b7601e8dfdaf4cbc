variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the objects bucket (SSE-KMS with a bucket key)."
  type        = string
}

variable "base_domain" {
  description = "Base domain of the shops: browsers on https://<base domain> and https://*.<base domain> may PUT presigned uploads."
  type        = string
}

variable "extra_cors_origins" {
  description = "Further exact origins allowed to upload from a browser (custom shop domains, a headless storefront)."
  type        = list(string)
}

variable "versioning" {
  description = "Keep earlier versions of overwritten and deleted objects."
  type        = bool
}

variable "noncurrent_version_days" {
  description = "Days an earlier object version (and a deleted object) is kept when versioning is on."
  type        = number
}

variable "abandoned_upload_days" {
  description = "Days after which unfinished multipart uploads are aborted and their parts deleted."
  type        = number
}

variable "log_bucket_retention_days" {
  description = "Days access logs (load balancer, S3) are kept in the logs bucket."
  type        = number
}

variable "alb_legacy_log_delivery" {
  description = "Also grant the regional Elastic Load Balancing account (regions opened before August 2022) the right to write access logs. Set false in newer regions, where the account does not exist."
  type        = bool
}

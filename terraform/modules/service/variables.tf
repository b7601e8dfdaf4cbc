variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

# ---- placement -------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the load balancer's target group."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer."
  type        = string
}

variable "app_security_group_id" {
  description = "Security group of the tasks (serve, migrate, db-bootstrap)."
  type        = string
}

variable "cluster_id" {
  description = "ECS cluster (ARN)."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name (for autoscaling)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the secrets, log groups and objects bucket."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the tasks' and WAF's log groups, in days."
  type        = number
}

# ---- image and sizes -------------------------------------------------------------------

variable "image_repository" {
  description = "Image repository (without tag)."
  type        = string
}

variable "image_tag" {
  description = "Tag the service runs."
  type        = string
}

variable "migrate_image_tag" {
  description = "Tag the migrate task runs (normally image_tag; ahead of it during a deploy)."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64: the architecture the image was built for."
  type        = string
}

variable "cpu" {
  description = "CPU units of a serve task (1024 = 1 vCPU)."
  type        = number
}

variable "memory" {
  description = "Memory of a serve task, in MiB."
  type        = number
}

variable "migrate_cpu" {
  description = "CPU units of the migrate task."
  type        = number
}

variable "migrate_memory" {
  description = "Memory of the migrate task, in MiB."
  type        = number
}

variable "migrate_concurrency" {
  description = "Shops migrated at once by `shopfleet migrate --concurrency`."
  type        = number
}

variable "desired_count" {
  description = "Serve tasks at creation (autoscaling moves it between min_count and max_count)."
  type        = number
}

variable "min_count" {
  description = "Fewest serve tasks."
  type        = number
}

variable "max_count" {
  description = "Most serve tasks."
  type        = number
}

variable "cpu_target_percent" {
  description = "Average CPU the autoscaler aims for."
  type        = number
}

variable "requests_per_target" {
  description = "Load balancer requests per task and minute the autoscaler aims for (0: no request-based scaling)."
  type        = number
}

# ---- application settings --------------------------------------------------------------

variable "base_domain" {
  description = "BASE_DOMAIN."
  type        = string
}

variable "public_url_template" {
  description = "PUBLIC_URL_TEMPLATE."
  type        = string
}

variable "database_max_connections" {
  description = "DATABASE_MAX_CONNECTIONS of each serve task."
  type        = number
}

variable "rust_log" {
  description = "RUST_LOG of every task."
  type        = string
}

variable "cors_allowed_origins" {
  description = "CORS_ALLOWED_ORIGINS (empty: not set)."
  type        = list(string)
}

variable "extra_environment" {
  description = "Further environment variables of the serve tasks."
  type        = map(string)
}

variable "objects_bucket_name" {
  description = "S3_BUCKET."
  type        = string
}

variable "objects_bucket_arn" {
  description = "ARN of the objects bucket (the task role may use shops/* in it)."
  type        = string
}

variable "database_url_secret_arn" {
  description = "Secret holding DATABASE_URL."
  type        = string
}

variable "meili_enabled" {
  description = "Whether MeiliSearch is deployed (sets MEILI_URL and MEILI_API_KEY)."
  type        = bool
}

variable "meili_url" {
  description = "MEILI_URL (when meili_enabled)."
  type        = string
}

variable "meili_api_key_secret_arn" {
  description = "Secret holding MEILI_API_KEY (when meili_enabled)."
  type        = string
}

variable "meili_search_key_uid" {
  description = "MEILI_SEARCH_KEY_UID (empty: storefront tenant tokens off)."
  type        = string
}

variable "meili_search_key_secret_arn" {
  description = "Secret holding MEILI_SEARCH_KEY (with meili_search_key_uid)."
  type        = string
}

# ---- database bootstrap ----------------------------------------------------------------

variable "postgres_client_image" {
  description = "Image with psql, run by the db-bootstrap task."
  type        = string
}

variable "database_host" {
  description = "Host name of the database."
  type        = string
}

variable "database_port" {
  description = "Port of the database."
  type        = number
}

variable "database_master_username" {
  description = "Master user of the database."
  type        = string
}

variable "database_master_secret_arn" {
  description = "RDS-managed secret of the master user (JSON with a password key)."
  type        = string
}

variable "database_app_username" {
  description = "Role the db-bootstrap task creates for the application."
  type        = string
}

variable "database_app_name" {
  description = "Database the db-bootstrap task creates for the application."
  type        = string
}

variable "database_app_password_secret_arn" {
  description = "Secret holding that role's password."
  type        = string
}

# ---- load balancer ---------------------------------------------------------------------

variable "certificate_arn" {
  description = "Certificate of <base domain> and *.<base domain>."
  type        = string
}

variable "custom_domain_certificate_arns" {
  description = "Further certificates (custom shop domains) served by SNI on the HTTPS listener."
  type        = list(string)
}

variable "forward_other_hosts" {
  description = "Forward requests for hosts other than <base domain> and *.<base domain> (shops' custom domains) to the service; otherwise answer them 404 at the load balancer."
  type        = bool
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer until this is turned off."
  type        = bool
}

variable "logs_bucket_name" {
  description = "Bucket receiving the load balancer's access logs."
  type        = string
}

variable "alb_log_prefix" {
  description = "Prefix of the access logs in that bucket."
  type        = string
}

variable "enable_waf" {
  description = "Put AWS WAF (managed common and known-bad-input rules) in front of the load balancer."
  type        = bool
}

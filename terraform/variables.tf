# ---- deployment ------------------------------------------------------------------------

variable "name" {
  description = "Name of the deployment: prefix of every resource name (lowercase letters, digits and hyphens, at most 20 characters)."
  type        = string
  default     = "shopfleet"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name must be 2-20 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name, used in tags (production, staging, ...)."
  type        = string
  default     = "production"
}

variable "region" {
  description = "AWS region of everything (the certificate, bucket and load balancer must share it)."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (application, MeiliSearch, RDS, VPC flow logs, WAF), in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, ...)."
  }
}

# ---- domains ---------------------------------------------------------------------------

variable "base_domain" {
  description = "BASE_DOMAIN: shop <slug> answers on <slug>.<base_domain>, the platform on <base_domain> itself (e.g. shops.example.com)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.base_domain))
    error_message = "base_domain must be a bare lowercase host name such as shops.example.com."
  }
}

variable "route53_zone_name" {
  description = "Public Route 53 hosted zone that holds base_domain: base_domain itself or a parent (example.com for shops.example.com). The zone must exist."
  type        = string
}

variable "public_url_template" {
  description = "PUBLIC_URL_TEMPLATE: how the API prints a shop's URL."
  type        = string
  default     = "https://{host}"

  validation {
    condition     = strcontains(var.public_url_template, "{host}")
    error_message = "public_url_template must contain {host}."
  }
}

variable "forward_other_hosts" {
  description = "Send requests for hosts outside base_domain (shops' custom domains) to the service. Off: the load balancer answers them 404."
  type        = bool
  default     = true
}

variable "custom_domain_certificate_arns" {
  description = "ACM certificates of shops' custom domains, served by SNI on the HTTPS listener (at most 25 per listener by default; see README.md)."
  type        = list(string)
  default     = []
}

variable "cors_allowed_origins" {
  description = "CORS_ALLOWED_ORIGINS: exact origins (https://store.example.com) allowed to call every route from a browser; also allowed to PUT presigned uploads to the bucket."
  type        = list(string)
  default     = []
}

variable "upload_cors_origins" {
  description = "Further exact origins allowed to PUT presigned uploads straight to the objects bucket from a browser (e.g. shops' custom domains whose admin pages upload images), on top of https://<base_domain>, https://*.<base_domain> and cors_allowed_origins. Bucket only: the API's CORS is unaffected."
  type        = list(string)
  default     = []
}

# ---- network ---------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "vpc_cidr must be a CIDR block of /16 or larger."
  }
}

variable "availability_zones" {
  description = "Availability zones to use, by name (e.g. [\"us-east-1a\", \"us-east-1b\"]). Empty: the first az_count of the region's a, b, c and d zones that the account has."
  type        = list(string)
  default     = []
}

variable "az_count" {
  description = "Availability zones used (2 or 3)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every zone (about $33 a month each) instead of one per zone. Outgoing traffic (webhooks, image pulls) stops while that zone is down."
  type        = bool
  default     = true
}

variable "flow_log_traffic_type" {
  description = "VPC flow logs: ACCEPT, REJECT or ALL."
  type        = string
  default     = "REJECT"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "app_egress_ports" {
  description = "TCP ports shopfleet tasks may reach on the internet: 443 is needed (AWS APIs); webhook endpoints on other ports need theirs listed."
  type        = list(number)
  default     = [80, 443]

  validation {
    condition     = contains(var.app_egress_ports, 443)
    error_message = "app_egress_ports must contain 443 (ECR, Secrets Manager, CloudWatch Logs)."
  }
}

# ---- application -----------------------------------------------------------------------

variable "image_repository" {
  description = "Image repository of shopfleet, without tag. Empty: the ECR repository this configuration creates."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Image tag the service runs (a git SHA or release; the ECR repository refuses to overwrite tags)."
  type        = string

  validation {
    condition     = length(var.image_tag) > 0 && var.image_tag != "latest"
    error_message = "image_tag must name one build; \"latest\" is refused."
  }
}

variable "migrate_image_tag" {
  description = "Image tag of the migrate task. Null: image_tag. scripts/deploy.sh sets it to the new tag first, runs the migrations, then moves image_tag."
  type        = string
  default     = null
}

variable "cpu_architecture" {
  description = "Architecture the image was built for: X86_64 or ARM64 (Graviton, about 20% cheaper on Fargate)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "app_cpu" {
  description = "CPU units of each serve task (256, 512, 1024, 2048, 4096)."
  type        = number
  default     = 512
}

variable "app_memory" {
  description = "Memory of each serve task, in MiB (must suit app_cpu on Fargate; argon2id hashes take 19 MiB each)."
  type        = number
  default     = 1024
}

variable "desired_count" {
  description = "Serve tasks at creation."
  type        = number
  default     = 2
}

variable "min_count" {
  description = "Fewest serve tasks autoscaling leaves (2: one per zone survives a task or zone failure)."
  type        = number
  default     = 2
}

variable "max_count" {
  description = "Most serve tasks autoscaling starts. Mind the database: max_count x database_max_connections must stay below its max_connections."
  type        = number
  default     = 8

  validation {
    condition     = var.max_count >= 1
    error_message = "max_count must be at least 1."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU of the serve tasks that autoscaling aims for."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "Requests per task and minute that autoscaling aims for (0 turns request-based scaling off)."
  type        = number
  default     = 3000
}

variable "database_max_connections" {
  description = "DATABASE_MAX_CONNECTIONS of each serve task."
  type        = number
  default     = 20
}

variable "migrate_concurrency" {
  description = "Shops the migrate task migrates at once (`shopfleet migrate --concurrency`)."
  type        = number
  default     = 8
}

variable "rust_log" {
  description = "RUST_LOG of every shopfleet task."
  type        = string
  default     = "info,sqlx=warn"
}

variable "extra_environment" {
  description = "Further settings of the serve tasks (README.md, Configuration), e.g. { ACCESS_TOKEN_TTL_SECS = \"600\" }. Secrets do not belong here."
  type        = map(string)
  default     = {}

  validation {
    condition = length(setintersection(keys(var.extra_environment), [
      "DATABASE_URL", "JWT_SECRET", "MEILI_API_KEY", "MEILI_SEARCH_KEY", "S3_BUCKET", "BASE_DOMAIN",
      "PUBLIC_URL_TEMPLATE", "LISTEN_ADDR", "MEILI_URL", "S3_REGION", "DATABASE_MAX_CONNECTIONS",
      "RUST_LOG", "CORS_ALLOWED_ORIGINS", "MEILI_SEARCH_KEY_UID",
    ])) == 0
    error_message = "extra_environment must not set a variable this configuration sets itself or a secret."
  }
}

variable "enable_waf" {
  description = "AWS WAF with AWS's managed common and known-bad-input rules in front of the load balancer (about $7 a month plus $0.60 per million requests)."
  type        = bool
  default     = true
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer until this is turned off."
  type        = bool
  default     = true
}

variable "alb_legacy_log_delivery" {
  description = "Grant the region's Elastic Load Balancing account the right to write access logs, as regions opened before August 2022 need. Set false in newer regions (the account does not exist there)."
  type        = bool
  default     = true
}

variable "ecr_keep_images" {
  description = "Images the ECR repository keeps."
  type        = number
  default     = 50
}

# ---- database --------------------------------------------------------------------------

variable "db_engine_version" {
  description = "PostgreSQL version of RDS: a major (\"16\") or an exact version (\"16.4\"). shopfleet is checked on 15; 16+ works with the default grant options."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  description = "RDS instance class. Every shop has its own schema, so catalog caches grow with the fleet: give thousands of shops memory (db.r7g.large and up)."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial database storage, in GiB (gp3)."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Ceiling of storage autoscaling, in GiB."
  type        = number
  default     = 500
}

variable "db_multi_az" {
  description = "A standby in a second zone with automatic failover (doubles the instance and storage cost). Every shop depends on this one database."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery (1-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database until this is turned off."
  type        = bool
  default     = true
}

variable "db_slow_query_ms" {
  description = "Statements slower than this many milliseconds are logged."
  type        = number
  default     = 1000
}

variable "db_log_statement" {
  description = "PostgreSQL log_statement (none, ddl, mod, all). Anything but none logs the db-bootstrap task's ALTER ROLE ... PASSWORD unless RDS lets it turn logging off for its session: change it after bootstrapping."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "ddl", "mod", "all"], var.db_log_statement)
    error_message = "db_log_statement must be none, ddl, mod or all."
  }
}

variable "db_master_username" {
  description = "Master user of RDS (its password is generated and kept by RDS in Secrets Manager)."
  type        = string
  default     = "shopfleet_admin"
}

variable "db_app_username" {
  description = "Login role of the application, created by the db-bootstrap task."
  type        = string
  default     = "shopfleet"
}

variable "db_app_database" {
  description = "Database of the application, created by the db-bootstrap task."
  type        = string
  default     = "shopfleet"
}

variable "postgres_client_image" {
  description = "Image with psql that the db-bootstrap task runs."
  type        = string
  default     = "public.ecr.aws/docker/library/postgres:16-alpine"
}

# ---- cache -----------------------------------------------------------------------------

variable "enable_redis" {
  description = "Create ElastiCache for Redis. shopfleet does not read a Redis setting yet: the endpoint and URL secret are outputs for the release that will."
  type        = bool
  default     = false
}

variable "redis_engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.micro"
}

variable "redis_num_nodes" {
  description = "Nodes: 1, or 2+ for a replica in another zone with automatic failover."
  type        = number
  default     = 2
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots."
  type        = number
  default     = 7
}

# ---- objects ---------------------------------------------------------------------------

variable "objects_versioning" {
  description = "Versioning of the objects bucket: deleted and overwritten images stay recoverable for objects_noncurrent_version_days (so do a purged shop's files)."
  type        = bool
  default     = true
}

variable "objects_noncurrent_version_days" {
  description = "Days earlier versions of objects are kept."
  type        = number
  default     = 30
}

variable "objects_abandoned_upload_days" {
  description = "Days after which unfinished multipart uploads to the bucket are aborted."
  type        = number
  default     = 2
}

variable "logs_bucket_retention_days" {
  description = "Days load balancer and S3 access logs are kept."
  type        = number
  default     = 365
}

# ---- search ----------------------------------------------------------------------------

variable "enable_meilisearch" {
  description = "Run MeiliSearch on ECS (EFS storage) and point the service at it. Off: PostgreSQL full-text search."
  type        = bool
  default     = true
}

variable "meili_image" {
  description = "MeiliSearch image; pin the version you test with."
  type        = string
  default     = "getmeili/meilisearch:v1.12"
}

variable "meili_cpu" {
  description = "CPU units of the MeiliSearch task."
  type        = number
  default     = 1024
}

variable "meili_memory" {
  description = "Memory of the MeiliSearch task, in MiB."
  type        = number
  default     = 2048
}

variable "meili_search_key_uid" {
  description = "MEILI_SEARCH_KEY_UID: uid of a search-only MeiliSearch key (README.md). Empty: GET /v1/store/search/token stays off."
  type        = string
  default     = ""
}

variable "meili_search_key_secret_arn" {
  description = "Secrets Manager secret holding that key (MEILI_SEARCH_KEY), encrypted with this deployment's KMS key."
  type        = string
  default     = ""
}

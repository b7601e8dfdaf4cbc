variable "name" {
  description = "Name prefix of every resource (also the RDS instance identifier)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the instance."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights, the master secret, log groups and the app's secrets."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL version: a major version (\"16\": RDS picks the default minor and upgrades minors in the maintenance window) or an exact one (\"16.4\")."
  type        = string
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "allocated_storage" {
  description = "Initial storage, in GiB."
  type        = number
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling, in GiB (0 turns autoscaling off)."
  type        = number
}

variable "multi_az" {
  description = "A synchronous standby in a second zone with automatic failover."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery (1-35)."
  type        = number
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off."
  type        = bool
}

variable "slow_query_ms" {
  description = "Statements slower than this are logged (log_min_duration_statement)."
  type        = number
}

variable "log_statement" {
  description = "PostgreSQL log_statement: none, ddl, mod or all."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL logs, in days."
  type        = number
}

variable "master_username" {
  description = "Master user of the instance; used only by the db-bootstrap task."
  type        = string
}

variable "app_username" {
  description = "Login role of the application (created by the db-bootstrap task)."
  type        = string
}

variable "app_database" {
  description = "Database of the application (created by the db-bootstrap task)."
  type        = string
}

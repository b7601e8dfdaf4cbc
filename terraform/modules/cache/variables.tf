variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cache subnet group."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the cache nodes."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for data at rest, the slow-log group and the connection secret."
  type        = string
}

variable "engine_version" {
  description = "Redis engine version."
  type        = string
}

variable "node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "num_cache_clusters" {
  description = "Nodes in the replication group: 1 (no failover) or more (a primary, replicas in other zones, automatic failover)."
  type        = number
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots kept."
  type        = number
}

variable "log_retention_days" {
  description = "Retention of the slow-log group, in days."
  type        = number
}

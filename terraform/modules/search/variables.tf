variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "cluster_id" {
  description = "ECS cluster running MeiliSearch."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the task and the file system's mount targets."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the MeiliSearch task."
  type        = string
}

variable "storage_security_group_id" {
  description = "Security group of the EFS mount targets."
  type        = string
}

variable "namespace_id" {
  description = "Private DNS namespace MeiliSearch registers in."
  type        = string
}

variable "namespace_name" {
  description = "Name of that namespace (for the URL)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the file system, the master-key secret and the log group."
  type        = string
}

variable "image" {
  description = "MeiliSearch image."
  type        = string
}

variable "cpu" {
  description = "CPU units of the task (1024 = 1 vCPU)."
  type        = number
}

variable "memory" {
  description = "Memory of the task, in MiB."
  type        = number
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the log group, in days."
  type        = number
}

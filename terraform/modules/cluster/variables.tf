variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the private DNS namespace."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting ECS Exec sessions and their log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the ECS Exec log group, in days."
  type        = number
}

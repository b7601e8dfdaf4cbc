variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (a /16 leaves room: public /24s, private /20s)."
  type        = string
}

variable "availability_zones" {
  description = "Zones to use, by name (empty: the region's a-d zones, first az_count of them)."
  type        = list(string)
}

variable "az_count" {
  description = "Availability zones to spread subnets over (2 or 3)."
  type        = number
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper) instead of one per zone (survives the loss of a zone)."
  type        = bool
}

variable "flow_log_traffic_type" {
  description = "VPC flow logs: ACCEPT, REJECT or ALL."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the flow-log group, in days."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow-log group."
  type        = string
}

variable "app_port" {
  description = "Port the application listens on inside its tasks."
  type        = number
}

variable "app_egress_ports" {
  description = "TCP ports the application may reach on the internet: 443 for AWS APIs and HTTPS webhooks, 80 for plain-HTTP webhooks."
  type        = list(number)
}

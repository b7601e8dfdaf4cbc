variable "base_domain" {
  description = "Base domain of the shops; the certificate covers it and *.<base domain>."
  type        = string
}

variable "zone_name" {
  description = "Public Route 53 hosted zone holding base_domain (base_domain itself or a parent)."
  type        = string
}

variable "alb_dns_name" {
  description = "DNS name of the load balancer the records point at."
  type        = string
}

variable "alb_zone_id" {
  description = "Hosted zone id of the load balancer (for alias records)."
  type        = string
}

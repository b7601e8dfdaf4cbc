output "certificate_arn" {
  description = "ARN of the validated certificate for <base domain> and *.<base domain>."
  value       = aws_acm_certificate_validation.this.certificate_arn
}

output "zone_id" {
  description = "Id of the hosted zone."
  value       = data.aws_route53_zone.this.zone_id
}

output "records" {
  description = "Names pointing at the load balancer."
  value       = [for record in aws_route53_record.alb : record.fqdn]
}

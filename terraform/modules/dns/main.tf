# The wildcard certificate (validated through DNS in the hosted zone) and the records that
# send <base domain> and *.<base domain> to the load balancer.

data "aws_route53_zone" "this" {
  name         = var.zone_name
  private_zone = false
}

resource "aws_acm_certificate" "this" {
  domain_name               = var.base_domain
  subject_alternative_names = ["*.${var.base_domain}"]
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

# The apex and the wildcard share one validation record; create it once. The key is known
# before the certificate exists, so plans never depend on its attributes.
locals {
  validation_options = { for option in aws_acm_certificate.this.domain_validation_options : option.domain_name => option }
}

resource "aws_route53_record" "validation" {
  for_each = toset([var.base_domain])

  zone_id         = data.aws_route53_zone.this.zone_id
  name            = local.validation_options[each.key].resource_record_name
  type            = local.validation_options[each.key].resource_record_type
  records         = [local.validation_options[each.key].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for record in aws_route53_record.validation : record.fqdn]
}

resource "aws_route53_record" "alb" {
  for_each = toset([var.base_domain, "*.${var.base_domain}"])

  zone_id = data.aws_route53_zone.this.zone_id
  name    = each.value
  type    = "A"

  alias {
    name                   = var.alb_dns_name
    zone_id                = var.alb_zone_id
    evaluate_target_health = true
  }
}

# The public load balancer: HTTP redirects to HTTPS; HTTPS (TLS 1.2+, the wildcard
# certificate and any custom-domain certificates by SNI) forwards <base domain> and
# *.<base domain> to the service, and other hosts too when forward_other_hosts is on: the
# application resolves the shop from the Host header and answers 404 shop_not_found for a
# host it does not know.

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:The web ACL has the Log4j rules (AWSManagedRulesKnownBadInputsRuleSet); the check also demands AWSManagedRulesAnonymousIpList, which would block shoppers on VPNs and API clients and payment call-backs from hosting providers' addresses.
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.public_subnet_ids
  security_groups    = [var.alb_security_group_id]

  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  enable_http2               = true
  enable_deletion_protection = var.alb_deletion_protection
  # Uploads of product images through the API (multipart, up to the plan's limit) can be slow.
  idle_timeout = 120

  access_logs {
    bucket  = var.logs_bucket_name
    prefix  = var.alb_log_prefix
    enabled = true
  }
}

resource "aws_lb_target_group" "app" {
  name                 = "${var.name}-app"
  port                 = local.app_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  dynamic "default_action" {
    for_each = var.forward_other_hosts ? [1] : []
    content {
      type             = "forward"
      target_group_arn = aws_lb_target_group.app.arn
    }
  }

  dynamic "default_action" {
    for_each = var.forward_other_hosts ? [] : [1]
    content {
      type = "fixed-response"
      fixed_response {
        content_type = "application/json"
        message_body = "{\"error\": {\"code\": \"shop_not_found\", \"message\": \"no shop answers on this host\"}}"
        status_code  = "404"
      }
    }
  }
}

resource "aws_lb_listener_rule" "platform_hosts" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }

  condition {
    host_header {
      values = [var.base_domain, "*.${var.base_domain}"]
    }
  }
}

resource "aws_lb_listener_certificate" "custom_domains" {
  for_each = toset(var.custom_domain_certificate_arns)

  listener_arn    = aws_lb_listener.https.arn
  certificate_arn = each.value
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone id of the load balancer (for alias records)."
  value       = aws_lb.this.zone_id
}

output "alb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener (attach custom-domain certificates here)."
  value       = aws_lb_listener.https.arn
}

output "service_name" {
  description = "Name of the ECS service running `shopfleet serve`."
  value       = aws_ecs_service.app.name
}

output "serve_task_definition_arn" {
  description = "ARN (with revision) of the serve task definition."
  value       = aws_ecs_task_definition.serve.arn
}

output "migrate_task_definition_arn" {
  description = "ARN (with revision) of the migrate task definition."
  value       = aws_ecs_task_definition.migrate.arn
}

output "db_bootstrap_task_definition_arn" {
  description = "ARN (with revision) of the db-bootstrap task definition."
  value       = aws_ecs_task_definition.db_bootstrap.arn
}

output "container_name" {
  description = "Name of the shopfleet container in the serve and migrate tasks."
  value       = local.container
}

output "log_group_name" {
  description = "Log group of the serve, migrate and db-bootstrap tasks."
  value       = aws_cloudwatch_log_group.app.name
}

output "jwt_secret_arn" {
  description = "ARN of the secret holding JWT_SECRET."
  value       = aws_secretsmanager_secret.jwt.arn
}

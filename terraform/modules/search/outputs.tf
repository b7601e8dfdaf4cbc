output "url" {
  description = "MEILI_URL of the application."
  value       = "http://${aws_service_discovery_service.this.name}.${var.namespace_name}:${local.port}"
}

output "master_key_secret_arn" {
  description = "ARN of the secret holding the master key (the application's MEILI_API_KEY)."
  value       = aws_secretsmanager_secret.master_key.arn
}

output "service_name" {
  description = "Name of the MeiliSearch ECS service."
  value       = aws_ecs_service.this.name
}

output "file_system_id" {
  description = "EFS file system holding the MeiliSearch database."
  value       = aws_efs_file_system.this.id
}

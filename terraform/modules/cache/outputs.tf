output "primary_endpoint" {
  description = "Primary endpoint (host name) of the replication group."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "url_secret_arn" {
  description = "ARN of the secret holding the rediss:// URL with the AUTH token."
  value       = aws_secretsmanager_secret.url.arn
}

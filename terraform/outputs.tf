output "url" {
  description = "The platform host (signup, platform admin); shops answer on https://<slug>.<base_domain>."
  value       = "https://${var.base_domain}"
}

output "image_tag" {
  description = "Tag the service runs (scripts/deploy.sh reads it)."
  value       = var.image_tag
}

output "ecr_repository_url" {
  description = "Push the shopfleet image here: docker build -t <url>:<tag> . && docker push <url>:<tag>."
  value       = module.registry.repository_url
}

output "alb_dns_name" {
  description = "DNS name of the load balancer: the target of shops' custom-domain CNAMEs (or use <slug>.<base_domain>)."
  value       = module.service.alb_dns_name
}

output "https_listener_arn" {
  description = "HTTPS listener, where custom-domain certificates are attached."
  value       = module.service.https_listener_arn
}

output "nat_public_ips" {
  description = "Addresses webhooks leave from, for shops that allow-list senders."
  value       = module.network.nat_public_ips
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.cluster.cluster_name
}

output "service_name" {
  description = "ECS service running `shopfleet serve`."
  value       = module.service.service_name
}

output "migrate_task_definition_arn" {
  description = "Task definition of `shopfleet migrate` (run it before updating the service)."
  value       = module.service.migrate_task_definition_arn
}

output "db_bootstrap_task_definition_arn" {
  description = "Task definition creating the application's role and database (once, after the first apply)."
  value       = module.service.db_bootstrap_task_definition_arn
}

output "task_subnet_ids" {
  description = "Private subnets for one-off tasks."
  value       = module.network.private_subnet_ids
}

output "task_security_group_id" {
  description = "Security group for one-off tasks."
  value       = module.network.security_group_ids.app
}

output "run_task_network_configuration" {
  description = "--network-configuration argument of `aws ecs run-task` for one-off tasks."
  value       = "awsvpcConfiguration={subnets=[${join(",", module.network.private_subnet_ids)}],securityGroups=[${module.network.security_group_ids.app}],assignPublicIp=DISABLED}"
}

output "log_group_name" {
  description = "Log group of the serve, migrate and db-bootstrap tasks."
  value       = module.service.log_group_name
}

output "objects_bucket" {
  description = "S3_BUCKET of the service."
  value       = module.storage.objects_bucket_name
}

output "logs_bucket" {
  description = "Bucket of load balancer and S3 access logs."
  value       = module.storage.logs_bucket_name
}

output "database_address" {
  description = "Host name of the RDS instance."
  value       = module.database.address
}

output "database_url_secret_arn" {
  description = "Secret holding DATABASE_URL."
  value       = module.database.database_url_secret_arn
}

output "database_master_secret_arn" {
  description = "RDS-managed secret of the master user."
  value       = module.database.master_user_secret_arn
}

output "jwt_secret_arn" {
  description = "Secret holding JWT_SECRET."
  value       = module.service.jwt_secret_arn
}

output "meili_url" {
  description = "MEILI_URL (empty without MeiliSearch)."
  value       = var.enable_meilisearch ? module.search[0].url : ""
}

output "meili_master_key_secret_arn" {
  description = "Secret holding MeiliSearch's master key (empty without MeiliSearch)."
  value       = var.enable_meilisearch ? module.search[0].master_key_secret_arn : ""
}

output "redis_endpoint" {
  description = "Primary endpoint of Redis (empty without Redis)."
  value       = var.enable_redis ? module.cache[0].primary_endpoint : ""
}

output "redis_url_secret_arn" {
  description = "Secret holding the rediss:// URL (empty without Redis)."
  value       = var.enable_redis ? module.cache[0].url_secret_arn : ""
}

output "kms_key_arn" {
  description = "KMS key of the deployment (encrypt a MEILI_SEARCH_KEY secret with it)."
  value       = module.kms.key_arn
}

# shopfleet on AWS: one root module wiring the child modules in modules/.
#
#   kms       one customer-managed key for data at rest
#   network   VPC, public/private subnets, NAT, S3 endpoint, flow logs, every security group
#   cluster   ECS cluster, private DNS namespace
#   registry  ECR repository of the shopfleet image
#   storage   objects bucket (S3_BUCKET) and access-log bucket
#   database  RDS PostgreSQL, DATABASE_URL secret
#   cache     ElastiCache for Redis (optional; not read by shopfleet yet)
#   search    MeiliSearch on Fargate with EFS (optional)
#   service   load balancer, WAF, serve service with autoscaling, migrate and db-bootstrap tasks
#   dns       ACM certificate for <base_domain> and *.<base_domain>, Route 53 records

locals {
  image_repository  = var.image_repository != "" ? var.image_repository : module.registry.repository_url
  migrate_image_tag = coalesce(var.migrate_image_tag, var.image_tag)
}

module "kms" {
  source = "./modules/kms"
  name   = var.name
}

module "network" {
  source = "./modules/network"

  name                  = var.name
  vpc_cidr              = var.vpc_cidr
  availability_zones    = var.availability_zones
  az_count              = var.az_count
  single_nat_gateway    = var.single_nat_gateway
  flow_log_traffic_type = var.flow_log_traffic_type
  log_retention_days    = var.log_retention_days
  kms_key_arn           = module.kms.key_arn
  app_port              = 8080
  app_egress_ports      = var.app_egress_ports
}

module "cluster" {
  source = "./modules/cluster"

  name               = var.name
  vpc_id             = module.network.vpc_id
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days
}

module "registry" {
  source = "./modules/registry"

  name        = var.name
  kms_key_arn = module.kms.key_arn
  keep_images = var.ecr_keep_images
}

module "storage" {
  source = "./modules/storage"

  name                      = var.name
  kms_key_arn               = module.kms.key_arn
  base_domain               = var.base_domain
  extra_cors_origins        = distinct(concat(var.cors_allowed_origins, var.upload_cors_origins))
  versioning                = var.objects_versioning
  noncurrent_version_days   = var.objects_noncurrent_version_days
  abandoned_upload_days     = var.objects_abandoned_upload_days
  log_bucket_retention_days = var.logs_bucket_retention_days
  alb_legacy_log_delivery   = var.alb_legacy_log_delivery
}

module "database" {
  source = "./modules/database"

  name                  = var.name
  subnet_ids            = module.network.private_subnet_ids
  security_group_id     = module.network.security_group_ids.database
  kms_key_arn           = module.kms.key_arn
  engine_version        = var.db_engine_version
  instance_class        = var.db_instance_class
  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  multi_az              = var.db_multi_az
  backup_retention_days = var.db_backup_retention_days
  deletion_protection   = var.db_deletion_protection
  slow_query_ms         = var.db_slow_query_ms
  log_statement         = var.db_log_statement
  log_retention_days    = var.log_retention_days
  master_username       = var.db_master_username
  app_username          = var.db_app_username
  app_database          = var.db_app_database
}

module "cache" {
  source = "./modules/cache"
  count  = var.enable_redis ? 1 : 0

  name                    = var.name
  subnet_ids              = module.network.private_subnet_ids
  security_group_id       = module.network.security_group_ids.cache
  kms_key_arn             = module.kms.key_arn
  engine_version          = var.redis_engine_version
  node_type               = var.redis_node_type
  num_cache_clusters      = var.redis_num_nodes
  snapshot_retention_days = var.redis_snapshot_retention_days
  log_retention_days      = var.log_retention_days
}

module "search" {
  source = "./modules/search"
  count  = var.enable_meilisearch ? 1 : 0

  name                      = var.name
  cluster_id                = module.cluster.cluster_id
  subnet_ids                = module.network.private_subnet_ids
  security_group_id         = module.network.security_group_ids.search
  storage_security_group_id = module.network.security_group_ids.search_storage
  namespace_id              = module.cluster.namespace_id
  namespace_name            = module.cluster.namespace_name
  kms_key_arn               = module.kms.key_arn
  image                     = var.meili_image
  cpu                       = var.meili_cpu
  memory                    = var.meili_memory
  cpu_architecture          = var.cpu_architecture
  log_retention_days        = var.log_retention_days
}

module "service" {
  source = "./modules/service"

  name                  = var.name
  vpc_id                = module.network.vpc_id
  public_subnet_ids     = module.network.public_subnet_ids
  private_subnet_ids    = module.network.private_subnet_ids
  alb_security_group_id = module.network.security_group_ids.alb
  app_security_group_id = module.network.security_group_ids.app
  cluster_id            = module.cluster.cluster_id
  cluster_name          = module.cluster.cluster_name
  kms_key_arn           = module.kms.key_arn
  log_retention_days    = var.log_retention_days

  image_repository    = local.image_repository
  image_tag           = var.image_tag
  migrate_image_tag   = local.migrate_image_tag
  cpu_architecture    = var.cpu_architecture
  cpu                 = var.app_cpu
  memory              = var.app_memory
  migrate_cpu         = 512
  migrate_memory      = 1024
  migrate_concurrency = var.migrate_concurrency
  desired_count       = var.desired_count
  min_count           = var.min_count
  max_count           = var.max_count
  cpu_target_percent  = var.cpu_target_percent
  requests_per_target = var.requests_per_target

  base_domain              = var.base_domain
  public_url_template      = var.public_url_template
  database_max_connections = var.database_max_connections
  rust_log                 = var.rust_log
  cors_allowed_origins     = var.cors_allowed_origins
  extra_environment        = var.extra_environment
  objects_bucket_name      = module.storage.objects_bucket_name
  objects_bucket_arn       = module.storage.objects_bucket_arn
  database_url_secret_arn  = module.database.database_url_secret_arn

  meili_enabled               = var.enable_meilisearch
  meili_url                   = var.enable_meilisearch ? module.search[0].url : ""
  meili_api_key_secret_arn    = var.enable_meilisearch ? module.search[0].master_key_secret_arn : ""
  meili_search_key_uid        = var.meili_search_key_uid
  meili_search_key_secret_arn = var.meili_search_key_secret_arn

  postgres_client_image            = var.postgres_client_image
  database_host                    = module.database.address
  database_port                    = module.database.port
  database_master_username         = module.database.master_username
  database_master_secret_arn       = module.database.master_user_secret_arn
  database_app_username            = module.database.app_username
  database_app_name                = module.database.app_database
  database_app_password_secret_arn = module.database.app_password_secret_arn

  certificate_arn                = module.dns.certificate_arn
  custom_domain_certificate_arns = var.custom_domain_certificate_arns
  forward_other_hosts            = var.forward_other_hosts
  alb_deletion_protection        = var.alb_deletion_protection
  logs_bucket_name               = module.storage.logs_bucket_name
  alb_log_prefix                 = module.storage.alb_log_prefix
  enable_waf                     = var.enable_waf
}

module "dns" {
  source = "./modules/dns"

  base_domain  = var.base_domain
  zone_name    = var.route53_zone_name
  alb_dns_name = module.service.alb_dns_name
  alb_zone_id  = module.service.alb_zone_id
}

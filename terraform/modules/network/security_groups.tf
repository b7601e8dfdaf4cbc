# Every security group of the deployment, in one place so that each rule names both of its
# ends. A group without egress rules sends nothing (Terraform removes AWS's default
# allow-all egress rule). DNS to the VPC resolver is not subject to security groups.

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached to the load balancer (modules/service, aws_lb.this) through this module's security_group_ids output; checkov does not follow module outputs.
  name        = "${var.name}-alb"
  description = "Public load balancer: HTTPS (and HTTP, which only redirects) from anywhere"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-alb" }
}

resource "aws_security_group" "app" {
  #checkov:skip=CKV2_AWS_5:Attached to the serve service and the one-off tasks (modules/service) through this module's security_group_ids output; checkov does not follow module outputs.
  name        = "${var.name}-app"
  description = "shopfleet tasks (serve, migrate, db-bootstrap)"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-app" }
}

resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS instance (modules/database) through this module's security_group_ids output; checkov does not follow module outputs.
  name        = "${var.name}-database"
  description = "PostgreSQL: reachable from the shopfleet tasks only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-database" }
}

resource "aws_security_group" "cache" {
  #checkov:skip=CKV2_AWS_5:Attached to the ElastiCache replication group (modules/cache) through this module's security_group_ids output; checkov does not follow module outputs.
  name        = "${var.name}-cache"
  description = "Redis: reachable from the shopfleet tasks only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-cache" }
}

resource "aws_security_group" "search" {
  #checkov:skip=CKV2_AWS_5:Attached to the MeiliSearch service (modules/search) through this module's security_group_ids output; checkov does not follow module outputs.
  name        = "${var.name}-search"
  description = "MeiliSearch: reachable from the shopfleet tasks only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-search" }
}

resource "aws_security_group" "search_storage" {
  #checkov:skip=CKV2_AWS_5:Attached to the EFS mount targets (modules/search) through this module's security_group_ids output; checkov does not follow module outputs.
  name        = "${var.name}-search-efs"
  description = "EFS of MeiliSearch: NFS from the MeiliSearch task only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name}-search-efs" }
}

# ---- load balancer ---------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 is open to the internet on purpose: its listener only answers with a redirect to HTTPS.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere, answered with a redirect to HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere: storefronts, admin API, payment call-backs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the shopfleet tasks"
  referenced_security_group_id = aws_security_group.app.id
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
}

# ---- application tasks -----------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "From the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
}

resource "aws_vpc_security_group_egress_rule" "app_to_database" {
  security_group_id            = aws_security_group.app.id
  description                  = "To PostgreSQL"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "app_to_cache" {
  security_group_id            = aws_security_group.app.id
  description                  = "To Redis"
  referenced_security_group_id = aws_security_group.cache.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_egress_rule" "app_to_search" {
  security_group_id            = aws_security_group.app.id
  description                  = "To MeiliSearch"
  referenced_security_group_id = aws_security_group.search.id
  ip_protocol                  = "tcp"
  from_port                    = 7700
  to_port                      = 7700
}

# AWS APIs (S3 through the gateway endpoint; ECR, Secrets Manager, CloudWatch Logs through
# the NAT gateway) and outgoing webhooks to shops' endpoints, which can be any host.
resource "aws_vpc_security_group_egress_rule" "app_to_internet" {
  for_each = toset([for port in var.app_egress_ports : tostring(port)])

  security_group_id = aws_security_group.app.id
  description       = "AWS APIs, image pulls and webhooks on TCP ${each.value}"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
}

# ---- data stores -----------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "database_from_app" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the shopfleet tasks"
  referenced_security_group_id = aws_security_group.app.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "cache_from_app" {
  security_group_id            = aws_security_group.cache.id
  description                  = "Redis from the shopfleet tasks"
  referenced_security_group_id = aws_security_group.app.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_vpc_security_group_ingress_rule" "search_from_app" {
  security_group_id            = aws_security_group.search.id
  description                  = "MeiliSearch from the shopfleet tasks"
  referenced_security_group_id = aws_security_group.app.id
  ip_protocol                  = "tcp"
  from_port                    = 7700
  to_port                      = 7700
}

resource "aws_vpc_security_group_egress_rule" "search_to_storage" {
  security_group_id            = aws_security_group.search.id
  description                  = "NFS to the MeiliSearch file system"
  referenced_security_group_id = aws_security_group.search_storage.id
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
}

resource "aws_vpc_security_group_egress_rule" "search_to_internet" {
  security_group_id = aws_security_group.search.id
  description       = "Image pulls, Secrets Manager and CloudWatch Logs over HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "search_storage_from_search" {
  security_group_id            = aws_security_group.search_storage.id
  description                  = "NFS from the MeiliSearch task"
  referenced_security_group_id = aws_security_group.search.id
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
}

# `terraform test` (Terraform 1.7+) applies the configuration against a mocked AWS provider:
# no AWS account or credentials are needed, nothing is created. It checks what a plan cannot
# show without AWS: that every expression evaluates with the variables below and that the
# modules fit together. The mocks give the attributes the configuration reads (ARNs,
# certificate validation records) values of the right shape.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::127311923021:root" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:mock" }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/mock/123"
      arn_suffix = "app/mock/123"
      dns_name   = "mock-123.us-east-1.elb.amazonaws.com"
      zone_id    = "Z35SXDOTRQ7X7K"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mock/123"
      arn_suffix = "targetgroup/mock/123"
    }
  }
  mock_resource "aws_lb_listener" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/mock/123/456" }
  }
  mock_resource "aws_wafv2_web_acl" {
    defaults = { arn = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/mock/123" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock" }
  }
  mock_resource "aws_efs_file_system" {
    defaults = { arn = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-123" }
  }
  mock_resource "aws_efs_access_point" {
    defaults = { arn = "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-123" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:cluster/mock"
      id  = "arn:aws:ecs:us-east-1:123456789012:cluster/mock"
    }
  }
  mock_resource "aws_service_discovery_service" {
    defaults = { arn = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-123" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/mock:1" }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-master"
        kms_key_id    = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
        secret_status = "active"
      }]
    }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:us-east-1:123456789012:certificate/mock"
      domain_validation_options = [
        { domain_name = "shops.example.com", resource_record_name = "_x.shops.example.com.", resource_record_type = "CNAME", resource_record_value = "_y.acm-validations.aws." },
        { domain_name = "*.shops.example.com", resource_record_name = "_x.shops.example.com.", resource_record_type = "CNAME", resource_record_value = "_y.acm-validations.aws." },
      ]
    }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = { certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/mock" }
  }
}

variables {
  base_domain       = "shops.example.com"
  route53_zone_name = "example.com"
  image_tag         = "3f9c2d1"
}

run "defaults" {
  assert {
    condition     = length(output.task_subnet_ids) == 2
    error_message = "the defaults use two zones"
  }
  assert {
    condition     = output.meili_url == "http://meili.shopfleet.internal:7700"
    error_message = "MeiliSearch is on by default, at its private name"
  }
  assert {
    condition     = output.redis_endpoint == ""
    error_message = "Redis is off by default"
  }
}

run "everything_on" {
  variables {
    az_count                       = 3
    single_nat_gateway             = false
    enable_redis                   = true
    meili_search_key_uid           = "7c2f0e5a-1d7e-4a38-9f2b-0d3c4b6f8a11"
    meili_search_key_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:meili-search"
    cors_allowed_origins           = ["https://store.example.com"]
    extra_environment              = { ACCESS_TOKEN_TTL_SECS = "600" }
    custom_domain_certificate_arns = ["arn:aws:acm:us-east-1:123456789012:certificate/custom"]
  }

  assert {
    condition     = length(output.task_subnet_ids) == 3 && length(output.nat_public_ips) == 3
    error_message = "three zones, a NAT gateway in each"
  }
  assert {
    condition     = output.redis_endpoint != ""
    error_message = "Redis is created when enabled"
  }
}

run "everything_off" {
  variables {
    enable_meilisearch  = false
    enable_waf          = false
    forward_other_hosts = false
    requests_per_target = 0
    migrate_image_tag   = "4a1b2c3"
  }

  assert {
    condition     = output.meili_url == "" && output.meili_master_key_secret_arn == ""
    error_message = "no MeiliSearch when disabled"
  }
}

run "refuses_latest" {
  command = plan

  variables {
    image_tag = "latest"
  }

  expect_failures = [var.image_tag]
}

output "objects_bucket_name" {
  description = "Name of the objects bucket (S3_BUCKET)."
  value       = aws_s3_bucket.objects.id
}

output "objects_bucket_arn" {
  description = "ARN of the objects bucket."
  value       = aws_s3_bucket.objects.arn
}

output "logs_bucket_name" {
  description = "Name of the access-log bucket."
  value       = aws_s3_bucket.logs.id
  # A load balancer checks at creation that it may write its logs: not before the policy.
  depends_on = [aws_s3_bucket_policy.logs]
}

output "alb_log_prefix" {
  description = "Prefix under which the load balancer writes its access logs."
  value       = "alb"
}

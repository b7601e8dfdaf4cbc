output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the instance."
  value       = aws_db_instance.this.port
}

output "instance_identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}

output "master_username" {
  description = "Master user name."
  value       = aws_db_instance.this.username
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed secret holding the master user's credentials (JSON: username, password)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "app_password_secret_arn" {
  description = "ARN of the secret holding the application role's password."
  value       = aws_secretsmanager_secret.app_password.arn
}

output "database_url_secret_arn" {
  description = "ARN of the secret holding DATABASE_URL."
  value       = aws_secretsmanager_secret.database_url.arn
}

output "app_username" {
  description = "Login role of the application."
  value       = var.app_username
}

output "app_database" {
  description = "Database of the application."
  value       = var.app_database
}

output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer, NAT gateways)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (tasks, database, cache, search storage)."
  value       = aws_subnet.private[*].id
}

output "nat_public_ips" {
  description = "Addresses outgoing traffic (webhooks) leaves from: give them to shops that allow-list senders."
  value       = aws_eip.nat[*].public_ip
}

output "security_group_ids" {
  description = "Security groups by role: alb, app, database, cache, search, search_storage."
  value = {
    alb            = aws_security_group.alb.id
    app            = aws_security_group.app.id
    database       = aws_security_group.database.id
    cache          = aws_security_group.cache.id
    search         = aws_security_group.search.id
    search_storage = aws_security_group.search_storage.id
  }
}

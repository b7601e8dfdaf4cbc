provider "aws" {
  region = var.region

  default_tags {
    tags = merge(
      {
        Application = var.name
        Environment = var.environment
        ManagedBy   = "terraform"
      },
      var.tags,
    )
  }
}

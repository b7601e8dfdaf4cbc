terraform {
  # 1.5: `check` blocks and the `import` block syntax; nothing here needs newer.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds generated secrets (JWT secret, database and cache passwords): keep it in an
  # encrypted, versioned, private bucket. Fill in and uncomment, or pass the values with
  # `terraform init -backend-config=...` (see README.md).
  #
  # backend "s3" {
  #   bucket         = "my-terraform-state"
  #   key            = "shopfleet/production.tfstate"
  #   region         = "us-east-1"
  #   encrypt        = true
  #   dynamodb_table = "terraform-locks"
  # }
}
